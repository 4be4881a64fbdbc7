"""The phase machine: from the job's spec, its last status and its observed children, decide
the next status and what to create or change. Pure, so every transition is unit-tested.

Phases (``finetune_api.status.Phase``): Validating → (Queued) → Running → Succeeded | Failed |
Cancelled, with Suspended while runPolicy.suspend holds. Final phases are sticky: nothing is
created after them.
A pod that cannot start (``observed.Blocked``) is shown on the Validated or Running condition
and fails the job once it has been blocked for ``Policy.blocked_pod_timeout``.

Training runs in attempts, one training Job each (``attempts``): when one ends in failure, the
job fails (exit 3, deadline), succeeds (rank 0 had published), or restarts the whole group: the
failure is counted in ``status.failedAttempts`` (not for a disruption) and written with the
Running condition's reason ``Restarting`` before anything is deleted, then the failed Job is
deleted in the foreground, and once it is gone (with its pods, so their names and DNS records
are free) the next attempt's Job is created under the same name, ``status.attempts`` + 1.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from finetune_api.jobspec import FineTuneJobSpec
from finetune_api.reasons import VALIDATION_REASONS, PolicyReason
from finetune_api.reports import (
    Metrics,
    ProgressReport,
    Stage,
    TrainSummary,
    ValidateSummary,
    rfc3339,
)
from finetune_api.status import FINAL_PHASES, ConditionType, Phase, accuracy_text
from finetune_operator import attempts, readiness
from finetune_operator import conditions as cond
from finetune_operator import status_mirror as mirror
from finetune_operator.observed import JobState, PodState, Terminated
from finetune_operator.tenancy import Refusal


class Action(enum.Enum):
    """A change to the job's children; each is idempotent (create-if-absent, or a patch)."""

    CREATE_VALIDATION = "create-validation"
    """The ConfigMap and the validation Job."""
    CREATE_TRAINING = "create-training"
    """The ConfigMap (and the training pods' own, ``Decision.base_model_revision``), the
    headless Service and the training Job."""
    SUSPEND_TRAINING = "suspend-training"
    RESUME_TRAINING = "resume-training"
    DELETE_VALIDATION = "delete-validation"
    """Stops the validation pods of a job that failed while they were still there."""
    DELETE_TRAINING = "delete-training"
    """Stops the training pods (and frees GPUs and any Kueue quota) of a job that failed while
    they were still there. Deleted, not suspended: Kueue would resume an admitted Job."""
    DELETE_ATTEMPT = "delete-attempt"
    """Deletes a failed attempt's training Job in the foreground: it stays (deleting) until its
    pods are gone, so the next attempt, created under the same name once it is gone, never
    meets the old pods' hostnames or DNS records."""


def _stop_compute(work: _Pass, observed: Observed) -> None:
    """A job that ends Failed leaves nothing running: whichever of its Jobs has not finished is
    deleted (an image taken off the allow-list, a spec that no longer parses, a rejected
    child, a stall, a pod that cannot start)."""
    if work.status.get("phase") != Phase.FAILED:
        return
    for child, action in (
        (observed.validation, Action.DELETE_VALIDATION),
        (observed.training, Action.DELETE_TRAINING),
    ):
        if child is not None and child.finished is None and action not in work.actions:
            work.actions.append(action)


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class Observed:
    validation: JobState | None
    training: JobState | None
    pods: Sequence[PodState] = ()
    progress: ProgressReport | None = None
    """The latest report from the trainer's progress endpoint, if one was fetched."""
    running_in_namespace: int = 0
    """Other jobs' unsuspended, unfinished training Jobs in the same namespace."""
    leftovers: Sequence[JobState] = ()
    """Jobs with this job's child names whose owner is not this FineTuneJob: an earlier
    FineTuneJob of the same name (deleted and created again, e.g. ``kubectl replace --force``)
    whose children garbage collection has not taken yet, or children orphaned on deletion.
    They are never adopted; the step that would create one waits until it is gone."""


@dataclass(frozen=True)
class Policy:
    image_allowed: bool
    max_running_per_namespace: int
    """0 is unlimited."""
    blocked_pod_timeout: float
    """Seconds a pod may stay unable to start before the job fails."""
    stall_timeout: float = 0
    """Seconds a Running job's step may stay unchanged before it fails as Stalled; 0 never."""
    refusal: Refusal | None = None
    """Why the operator's settings forbid this spec (``tenancy.storage_refusal``): a job with
    no training Job yet fails with it before any (further) pod is created. One whose training
    Job exists was admitted under earlier settings and is left to finish."""


@dataclass(frozen=True)
class Decision:
    status: dict[str, Any]
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    create_suspended: bool = False
    """Initial spec.suspend of a training Job created by CREATE_TRAINING."""
    attempt: int = 1
    """The attempt number of a training Job created by CREATE_TRAINING."""
    active_deadline_seconds: int | None = None
    """activeDeadlineSeconds of a later attempt's Job: what remains of the job's; None for all."""
    base_model_revision: str | None = None
    """The commit the validation pod resolved an hf:// base model to (``status.baseModel``):
    the training Job created by CREATE_TRAINING reads a job document pinned to it
    (``builders.pinned_job``). None: nothing to pin (an S3 model, an older validator)."""


RESTARTING = "Restarting"
"""Running condition reason between a failed attempt and the next one, the failure counted."""
RESTARTING_AFTER_DISRUPTION = "RestartingAfterDisruption"
"""The same after a disruption, which is not counted against runPolicy.backoffLimit."""

LEFTOVER_REASON = "WaitingForOldChildren"
"""Condition reason while a child of an earlier FineTuneJob with the same name still exists."""


def _parse_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@dataclass
class _Pass:
    """Mutable working copy of the status for one decision."""

    generation: int
    clock: datetime
    status: dict[str, Any]
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    """Events besides the phase transition's (a restart)."""
    create_suspended: bool = False
    attempt: int = 1
    active_deadline_seconds: int | None = None

    @property
    def now(self) -> str:
        return rfc3339(self.clock)

    def condition(self, type_: ConditionType, status: bool, reason: str, message: str = "") -> None:
        self.status["conditions"] = cond.set_condition(
            self.status.get("conditions") or [],
            type_,
            status,
            reason,
            message,
            generation=self.generation,
            now=self.now,
        )

    def is_true(self, type_: ConditionType) -> bool:
        return cond.is_true(self.status.get("conditions") or [], type_)

    def phase(self, phase: Phase) -> None:
        self.status["phase"] = phase
        conditions = self.status.get("conditions") or []
        if phase != Phase.RUNNING and cond.find(conditions, ConditionType.RUNNING):
            self.condition(ConditionType.RUNNING, False, phase)
        if phase != Phase.SUSPENDED and self.is_true(ConditionType.SUSPENDED):
            self.condition(ConditionType.SUSPENDED, False, "Resumed")

    def fail(self, reason: str, message: str) -> None:
        self.phase(Phase.FAILED)
        self.condition(ConditionType.FAILED, True, reason, message)
        self.condition(ConditionType.SUCCEEDED, False, reason, message)
        self.status.setdefault("completionTime", self.now)


def _newest_pod(pods: Sequence[PodState], role: str, *, succeeded: bool) -> PodState | None:
    """The newest pod of ``role`` that exited with (or without) success."""
    finished = [
        p
        for p in pods
        if p.role == role
        and p.terminated is not None
        and (p.terminated.exit_code == 0) == succeeded
        and (role != "train" or not succeeded or p.index == 0)
    ]
    finished.sort(key=lambda p: p.created)
    return finished[-1] if finished else None


def _newest(pods: Sequence[PodState], role: str, *, succeeded: bool) -> Terminated | None:
    """The termination of the newest pod of ``role`` that exited with (or without) success."""
    pod = _newest_pod(pods, role, succeeded=succeeded)
    return pod.terminated if pod else None


def _killed(term: Terminated) -> str:
    return f"{term.container_reason}, exit code {term.exit_code}"


@dataclass(frozen=True)
class _Stuck:
    """A pod of the current step that cannot start, as the job reports it."""

    reason: str
    message: str
    timed_out: bool
    """Blocked for the policy's timeout: the job fails."""


def _stuck(pods: Sequence[PodState], role: str, now: datetime, timeout: float) -> _Stuck | None:
    """The longest-blocked pod of ``role``, or None when none is blocked."""
    blocked = [(p.name, p.blocked) for p in pods if p.role == role and p.blocked is not None]
    if not blocked:
        return None
    pod, problem = min(blocked, key=lambda item: item[1].since)
    timed_out = (now - _parse_time(problem.since)).total_seconds() >= timeout
    state = f"did not start within {timeout:g}s" if timed_out else "cannot start"
    return _Stuck(problem.reason, f"pod {pod} {state}: {problem.message}", timed_out)


def _validation_failure(job: JobState, pods: Sequence[PodState]) -> tuple[str, str]:
    pod = _newest_pod(pods, "validate", succeeded=False)
    term = pod.terminated if pod else None
    if pod is not None and term is not None and term.oom_killed and not term.reason:
        # Killed by the kernel, the validator wrote no message; the kubelet's reason says why.
        return "OOMKilled", f"pod {pod.name}: validation ran out of memory ({_killed(term)})"
    reason = term.reason if term and term.reason in VALIDATION_REASONS else "ValidationFailed"
    return reason, (term.message if term else None) or job.finish_message or job.finish_reason


def _leftover_message(observed: Observed, role: str) -> str | None:
    """Why the child of ``role`` cannot be created yet, or None when its name is free."""
    leftover = next((j for j in observed.leftovers if j.role == role), None)
    if leftover is None:
        return None
    owner = f"FineTuneJob uid {leftover.owner_uid}" if leftover.owner_uid else "no owner"
    return (
        f"Job {leftover.name} of an earlier FineTuneJob with this name still exists ({owner}); "
        "waiting for it to be deleted"
    )


def _validate(work: _Pass, observed: Observed, policy: Policy) -> None:
    """Validation step; leaves Validated True, or the phase Validating or Failed."""
    job = observed.validation
    if job is None and (blocked_by := _leftover_message(observed, "validate")):
        work.phase(Phase.VALIDATING)
        work.condition(ConditionType.VALIDATED, False, LEFTOVER_REASON, blocked_by)
    elif job is None:
        work.actions.append(Action.CREATE_VALIDATION)
        work.phase(Phase.VALIDATING)
        work.condition(ConditionType.VALIDATED, False, "Validating", "validating dataset and model")
    elif job.finished == "Complete":
        term = _newest(observed.pods, "validate", succeeded=True)
        summary = term.summary if term else None
        validated = summary if isinstance(summary, ValidateSummary) else None
        dataset = mirror.dataset_fields(validated) if validated else {}
        work.status["dataset"] = dataset
        if validated and (base_model := mirror.base_model_fields(validated)):
            # Written once, with Validated: every training attempt is pinned to this commit.
            work.status["baseModel"] = base_model
        work.condition(
            ConditionType.VALIDATED,
            True,
            "DatasetValid",
            f"{dataset.get('trainExamples', '?')} training examples, "
            f"{dataset.get('trainTokens', '?')} tokens",
        )
    elif job.finished == "Failed":
        reason, message = _validation_failure(job, observed.pods)
        work.condition(ConditionType.VALIDATED, False, reason, message)
        work.fail(reason, message)
    else:
        work.phase(Phase.VALIDATING)
        stuck = _stuck(observed.pods, "validate", work.clock, policy.blocked_pod_timeout)
        if stuck is None:
            # Also clears a problem that went away (a Secret created, a node added).
            work.condition(
                ConditionType.VALIDATED, False, "Validating", "validating dataset and model"
            )
            return
        work.condition(ConditionType.VALIDATED, False, stuck.reason, stuck.message)
        if stuck.timed_out:
            work.fail(stuck.reason, stuck.message)


def _succeed(work: _Pass, spec: FineTuneJobSpec, observed: Observed) -> None:
    rank0 = attempts.published(observed.pods) or _newest_pod(observed.pods, "train", succeeded=True)
    found = rank0.terminated.summary if rank0 and rank0.terminated else None
    summary = found if isinstance(found, TrainSummary) else TrainSummary()
    _merge_metrics(work, mirror.final_metrics(summary))
    output = mirror.output_fields(summary)
    if output:
        work.status["output"] = output
    progress = dict(work.status.get("progress") or {})
    if summary.step is not None:
        progress["step"] = summary.step
    progress.update(percent=100, stage=Stage.DONE)
    work.status["progress"] = progress
    work.phase(Phase.SUCCEEDED)
    work.condition(
        ConditionType.SUCCEEDED,
        True,
        "TrainingComplete",
        f"published to {output.get('uri', spec.output.uri)}",
    )
    work.condition(ConditionType.FAILED, False, "TrainingComplete")
    work.status.setdefault("completionTime", work.now)


def _wait_for_kueue(work: _Pass, spec: FineTuneJobSpec) -> None:
    """The training Job exists suspended; Kueue, not the operator, decides when it starts."""
    work.phase(Phase.QUEUED)
    work.condition(
        ConditionType.ADMITTED,
        False,
        "WaitingForKueue",
        f"waiting for admission by LocalQueue {spec.queue_name}",
    )


def _merge_metrics(work: _Pass, metrics: Mapping[str, Any]) -> None:
    """Newer values win; metrics the new source lacks (e.g. baseEvalLoss) are kept. The
    ``kubectl get`` accuracy column follows them."""
    if metrics:
        merged = {**(work.status.get("metrics") or {}), **metrics}
        work.status["metrics"] = merged
        accuracy = accuracy_text(Metrics.model_validate(merged))
        if accuracy:
            work.status["accuracy"] = accuracy


def _mirror_progress(work: _Pass, report: ProgressReport) -> None:
    progress = mirror.progress_fields(report, work.clock)
    if progress:
        before = work.status.get("progress") or {}
        changed = progress.get("step") != before.get("step")
        progress["lastStepTime"] = work.now if changed else before.get("lastStepTime", work.now)
        work.status["progress"] = progress
    _merge_metrics(work, mirror.metrics_from_progress(report))
    checkpoint = mirror.checkpoint_fields(report, work.clock)
    if checkpoint:
        work.status["lastCheckpoint"] = checkpoint
        work.condition(
            ConditionType.CHECKPOINTED,
            True,
            "CheckpointSaved",
            f"step {checkpoint.get('step', '?')} saved to {checkpoint.get('uri', '?')}",
        )


def _run(work: _Pass, spec: FineTuneJobSpec, observed: Observed, policy: Policy) -> None:
    """Training step, once validation has passed."""
    job = observed.training
    kueue = bool(spec.queue_name)
    if job is None:
        if spec.run_policy.suspend and not kueue:
            work.phase(Phase.SUSPENDED)
            work.condition(
                ConditionType.SUSPENDED, True, "SuspendedByUser", "runPolicy.suspend is true"
            )
            return
        limit = policy.max_running_per_namespace
        if not kueue and limit and observed.running_in_namespace >= limit:
            work.phase(Phase.QUEUED)
            work.condition(
                ConditionType.ADMITTED,
                False,
                "ConcurrencyLimit",
                f"{observed.running_in_namespace} training jobs running in the "
                f"namespace (limit {limit})",
            )
            return
        blocked_by = _leftover_message(observed, "train")
        if blocked_by:
            work.phase(Phase.QUEUED)
            work.condition(ConditionType.ADMITTED, False, LEFTOVER_REASON, blocked_by)
            return
        if not _next_attempt(work, spec):
            return
        work.actions.append(Action.CREATE_TRAINING)
        work.create_suspended = kueue
        if kueue:
            _wait_for_kueue(work, spec)
            return
        _running(work, spec, work.attempt)
        return
    if job.finished == "Complete" or attempts.published(observed.pods) is not None:
        # Rank 0 published: succeeded, even if another rank failed afterwards.
        _succeed(work, spec, observed)
    elif job.finished == "Failed":
        _attempt_failed(work, spec, job, observed)
    elif kueue and job.suspended:
        _wait_for_kueue(work, spec)
    elif not kueue and spec.run_policy.suspend:
        if not job.suspended:
            work.actions.append(Action.SUSPEND_TRAINING)
        work.phase(Phase.SUSPENDED)
        work.condition(
            ConditionType.SUSPENDED, True, "SuspendedByUser", "runPolicy.suspend is true"
        )
    else:
        if job.suspended:  # resumed by the user (Kueue-managed Jobs never get here)
            work.actions.append(Action.RESUME_TRAINING)
        stuck = _stuck(observed.pods, "train", work.clock, policy.blocked_pod_timeout)
        if stuck is not None and stuck.timed_out:
            work.fail(stuck.reason, stuck.message)
            return
        _running(work, spec, job.attempt or 1, stuck)
        if observed.progress:
            _mirror_progress(work, observed.progress)
        if stuck is None and (stalled := _stalled(work, policy.stall_timeout)):
            work.fail("Stalled", stalled)


def _next_attempt(work: _Pass, spec: FineTuneJobSpec) -> bool:
    """Number the training Job about to be created: ``status.attempts``, which a recorded
    failure has already moved on (so a create repeated before the index shows the Job keeps
    its number). A later attempt gets what remains of runPolicy.activeDeadlineSeconds,
    counted from the job's startTime (it bounds the whole job, not each attempt); with nothing
    left the job fails as DeadlineExceeded instead."""
    work.attempt = max(1, int(work.status.get("attempts") or 0))
    started = work.status.get("startTime")
    if work.attempt == 1 or not isinstance(started, str):
        return True
    deadline = spec.run_policy.active_deadline_seconds
    left = deadline - (work.clock - _parse_time(started)).total_seconds()
    if left < 1:
        work.fail(
            "DeadlineExceeded",
            f"runPolicy.activeDeadlineSeconds ({deadline}s) passed before attempt "
            f"{work.attempt} could start",
        )
        return False
    work.active_deadline_seconds = math.ceil(left)
    return True


def _attempt_failed(work: _Pass, spec: FineTuneJobSpec, job: JobState, observed: Observed) -> None:
    """The training Job failed: fail the job, or restart every rank as the next attempt.

    Two passes, so an operator restarted in between neither loses nor double-counts the
    failure: the first writes it to status in one patch (``failedAttempts``, ``attempts``
    moved on to the next attempt's number, Running condition ``Restarting``); the next, finding
    ``attempts`` past this Job's, deletes the Job."""
    ending = attempts.ended(job, observed.pods)
    if ending.final:
        work.fail(ending.reason, ending.message)
        return
    recorded = int(work.status.get("attempts") or 0)
    if job.attempt is not None:
        attempt, written = job.attempt, recorded > job.attempt
    else:  # a Job made before attempts were numbered: the condition tells
        running = cond.find(work.status.get("conditions") or [], ConditionType.RUNNING) or {}
        written = running.get("reason") in (RESTARTING, RESTARTING_AFTER_DISRUPTION)
        attempt = max(1, recorded - 1 if written else recorded)
    work.phase(Phase.RUNNING)
    if written:
        if not job.deleting:
            work.actions.append(Action.DELETE_ATTEMPT)
        return
    failures = int(work.status.get("failedAttempts") or 0) + (1 if ending.counted else 0)
    work.status["failedAttempts"] = failures
    limit = spec.run_policy.backoff_limit
    if failures > limit:
        work.fail(
            ending.reason,
            f"{ending.message} (attempt {attempt}: {failures} failed attempt(s), "
            f"runPolicy.backoffLimit is {limit})",
        )
        return
    work.status["attempts"] = attempt + 1
    if ending.counted:
        reason, left = RESTARTING, f"{limit - failures} of {limit} retries left"
    else:
        reason, left = RESTARTING_AFTER_DISRUPTION, "not counted against runPolicy.backoffLimit"
    message = (
        f"attempt {attempt} ended ({ending.reason}: {ending.message}); restarting every rank "
        f"from the last checkpoint as attempt {attempt + 1} ({left})"
    )[:1000]
    work.condition(ConditionType.RUNNING, False, reason, message)
    work.events.append(Event("Warning", reason, message))


def _stalled(work: _Pass, timeout: float) -> str | None:
    """Why a Running job counts as stalled, or None. The clock starts at the later of the last
    step change and the Running condition's last transition (training started or resumed, or a
    blocked pod started), both kept in status, so an operator restart does not reset it."""
    running = cond.find(work.status.get("conditions") or [], ConditionType.RUNNING)
    if not timeout or running is None or running.get("status") != "True":
        return None
    progress = work.status.get("progress") or {}
    marks = [running.get("lastTransitionTime"), progress.get("lastStepTime")]
    since = max(_parse_time(m) for m in marks if isinstance(m, str))
    idle = (work.clock - since).total_seconds()
    if idle < timeout:
        return None
    return (
        f"training step {progress.get('step', 0)} has not advanced for {idle:.0f}s "
        f"(--stall-timeout {timeout:g}s): a trainer, node or network stopped"
    )


def _running(work: _Pass, spec: FineTuneJobSpec, attempt: int, stuck: _Stuck | None = None) -> None:
    resources = spec.resources
    work.phase(Phase.RUNNING)
    work.condition(ConditionType.ADMITTED, True, "Admitted", "training Job admitted")
    if stuck is not None:
        work.condition(ConditionType.RUNNING, False, stuck.reason, stuck.message)
    else:
        message = f"{resources.num_nodes} node(s) x {resources.gpus_per_node} GPU(s)"
        if attempt > 1:
            message += f", attempt {attempt}"
        work.condition(ConditionType.RUNNING, True, "Training", message)
    work.status.setdefault("startTime", work.now)


def _attempts(work: _Pass, training: JobState | None) -> int:
    """The number of the current training attempt (one training Job each; between a failed
    attempt and the next, the next's); never decreases, also when a create's status write was
    lost."""
    numbers = [int(work.status.get("attempts") or 0)]
    if Action.CREATE_TRAINING in work.actions:
        numbers.append(work.attempt)
    if training is not None and training.attempt:
        numbers.append(training.attempt)
    return max(numbers)


def _transition_event(before: str | None, after: Mapping[str, Any]) -> Event | None:
    phase = after.get("phase")
    if phase is None or phase == before:
        return None
    reason, detail = readiness.explanation(after)
    kind = "Warning" if phase in (Phase.FAILED, Phase.CANCELLED) else "Normal"
    if phase == Phase.FAILED:
        # The reason column says why (e.g. InvalidDataset), so the message names the phase.
        return Event(kind, reason, f"{phase}: {detail}"[:1000])
    return Event(kind, phase, detail[:1000])  # "Running  training started", not "Running: Running"


def _summarised(work: _Pass) -> dict[str, Any]:
    """The pass's status with the summary conditions (``readiness``) for its phase."""
    return readiness.summarise(work.status, generation=work.generation, now=work.now)


def _spec_understood(work: _Pass, unknown_fields: Sequence[str]) -> None:
    """Name the fields this build ignored; the condition appears only once there were some."""
    if unknown_fields:
        work.condition(
            ConditionType.SPEC_UNDERSTOOD,
            False,
            "UnknownFields",
            f"fields this operator version does not know were ignored: {', '.join(unknown_fields)}"
            " (upgrade the operator to use them)",
        )
    elif cond.find(work.status.get("conditions") or [], ConditionType.SPEC_UNDERSTOOD):
        work.condition(ConditionType.SPEC_UNDERSTOOD, True, "Understood")


def decide(
    spec: FineTuneJobSpec,
    *,
    generation: int,
    status: Mapping[str, Any],
    observed: Observed,
    policy: Policy,
    now: datetime,
    unknown_fields: Sequence[str] = (),
) -> Decision:
    """The next status and the child changes for one reconcile pass. ``unknown_fields``: spec
    fields set aside because this build does not know them (``finetune_api.spec_reader``)."""
    before = status.get("phase")
    if before in FINAL_PHASES:
        return finished(status, generation, now)
    work = _Pass(generation=generation, clock=now, status=dict(status))
    work.status["observedGeneration"] = generation
    _spec_understood(work, unknown_fields)
    if not policy.image_allowed:
        work.fail(
            PolicyReason.IMAGE_NOT_ALLOWED,
            "spec.image is not on the operator's --allowed-image list",
        )
    elif policy.refusal is not None and observed.training is None:
        work.condition(
            ConditionType.VALIDATED, False, policy.refusal.reason, policy.refusal.message
        )
        work.fail(policy.refusal.reason, policy.refusal.message)
    else:
        if not work.is_true(ConditionType.VALIDATED):
            _validate(work, observed, policy)
        if work.is_true(ConditionType.VALIDATED):
            _run(work, spec, observed, policy)
    work.status["attempts"] = _attempts(work, observed.training)
    _stop_compute(work, observed)
    work.status = _summarised(work)
    event = _transition_event(before, work.status)
    return Decision(
        status=work.status,
        actions=tuple(work.actions),
        events=((event,) if event else ()) + tuple(work.events),
        create_suspended=work.create_suspended,
        attempt=work.attempt,
        active_deadline_seconds=work.active_deadline_seconds,
        base_model_revision=(work.status.get("baseModel") or {}).get("revision"),
    )


def _stop(
    status: Mapping[str, Any],
    generation: int,
    now: datetime,
    *,
    phase: Phase,
    reason: str,
    message: str,
    observed: Observed | None = None,
) -> Decision:
    if status.get("phase") in FINAL_PHASES:
        return Decision(status=dict(status))
    work = _Pass(generation=generation, clock=now, status=dict(status))
    work.status["observedGeneration"] = generation
    work.fail(reason, message)
    work.phase(phase)
    if observed is not None:
        _stop_compute(work, observed)
    work.status = _summarised(work)
    event = _transition_event(status.get("phase"), work.status)
    return Decision(
        status=work.status, actions=tuple(work.actions), events=(event,) if event else ()
    )


def finished(status: Mapping[str, Any], generation: int, now: datetime) -> Decision:
    """A job in a final phase: nothing is created or changed, but the status acknowledges
    the current generation and carries the summary conditions, so kstatus does not report a
    finished job InProgress forever after a manifest edit (e.g. ``runPolicy.suspend`` set in
    Git), and jobs finished under an older operator get them too."""
    work = _Pass(generation=generation, clock=now, status=dict(status))
    work.status["observedGeneration"] = generation
    return Decision(status=_summarised(work))


def cancelled(status: Mapping[str, Any], generation: int, now: datetime) -> Decision:
    """The FineTuneJob is being deleted before it finished (its children go with it, by
    garbage collection)."""
    return _stop(
        status,
        generation,
        now,
        phase=Phase.CANCELLED,
        reason="Cancelled",
        message="the FineTuneJob was deleted before it finished",
    )


BEFORE_TRAINING = frozenset({None, Phase.VALIDATING})
"""Phases in which no training Job exists yet."""


def invalid_spec(
    status: Mapping[str, Any], generation: int, message: str, now: datetime, observed: Observed
) -> Decision:
    """The spec does not parse, for a reason other than unknown fields (the CRD schema should
    have refused it, or a newer CRD allows a value this build does not). Before training this
    fails the job; a job that got further is never ended for it: its phase stays, condition
    SpecUnderstood says why the operator cannot follow it, and the next readable spec (a fix,
    or an upgraded operator) picks up where it is."""
    if status.get("phase") in BEFORE_TRAINING:
        return _stop(
            status,
            generation,
            now,
            phase=Phase.FAILED,
            reason="InvalidSpec",
            message=message,
            observed=observed,
        )
    if status.get("phase") in FINAL_PHASES:
        return Decision(status=dict(status))
    work = _Pass(generation=generation, clock=now, status=dict(status))
    work.status["observedGeneration"] = generation
    work.condition(ConditionType.SPEC_UNDERSTOOD, False, "InvalidSpec", message)
    return Decision(status=_summarised(work))


def child_rejected(
    status: Mapping[str, Any], generation: int, message: str, now: datetime, observed: Observed
) -> Decision:
    """The apiserver refused to create a child (422 invalid, 403 forbidden: an admission
    webhook, a quota): it would refuse it again on every pass, so the job fails now with the
    apiserver's message, which names the field."""
    return _stop(
        status,
        generation,
        now,
        phase=Phase.FAILED,
        reason="ChildRejected",
        message=message,
        observed=observed,
    )


@dataclass(frozen=True)
class LeftoverRanks:
    """What to do about a succeeded job's training Job whose pods still run."""

    action: Action | None = None
    wait_seconds: float | None = None
    """Seconds until the grace ends, while it runs."""


def leftover_ranks(
    spec: FineTuneJobSpec,
    status: Mapping[str, Any],
    training: JobState | None,
    now: datetime,
    grace: float,
) -> LeftoverRanks:
    """A job succeeds as soon as rank 0 published; a rank hung in a collective after that would
    hold its node (and GPUs) until activeDeadlineSeconds. Once ``grace`` has passed since
    completionTime, the training Job is suspended: its running pods are stopped while rank 0's
    finished pod, and its log, stay. Under Kueue it is deleted instead: Kueue would resume a
    suspended Job whose workload it had admitted."""
    finished = status.get("completionTime")
    if (
        status.get("phase") != Phase.SUCCEEDED
        or training is None
        or training.finished is not None
        or training.suspended
        or training.deleting
        or training.active == 0
        or not isinstance(finished, str)
    ):
        return LeftoverRanks()
    left = grace - (now - _parse_time(finished)).total_seconds()
    if left > 0:
        return LeftoverRanks(wait_seconds=left)
    action = Action.DELETE_TRAINING if spec.queue_name else Action.SUSPEND_TRAINING
    return LeftoverRanks(action=action)


def seconds_until_deletion(
    spec: FineTuneJobSpec, status: Mapping[str, Any], now: datetime
) -> float | None:
    """For a finished job with runPolicy.ttlSecondsAfterFinished: seconds left (<= 0: now)."""
    ttl = spec.run_policy.ttl_seconds_after_finished
    finished = status.get("completionTime")
    if ttl is None or status.get("phase") not in FINAL_PHASES or not isinstance(finished, str):
        return None
    deadline = _parse_time(finished) + timedelta(seconds=ttl)
    return (deadline - now).total_seconds()
