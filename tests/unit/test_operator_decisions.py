"""The phase machine: observed children + last status → next status and actions."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support.manifests import finetunejob

from finetune_api.jobspec import FineTuneJobSpec
from finetune_api.reasons import PolicyReason
from finetune_api.reports import ProgressReport, Stage, parse_summary, rfc3339
from finetune_api.status import READINESS, Phase
from finetune_operator import decisions, readiness
from finetune_operator.decisions import Action, Observed, Policy
from finetune_operator.observed import JobState, PodState, Terminated, pod_state
from finetune_operator.tenancy import Refusal

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
STAMP = "2026-11-28T12:00:00Z"
TIMEOUT = 300
ALLOW = Policy(image_allowed=True, max_running_per_namespace=0, blocked_pod_timeout=TIMEOUT)


def spec(**extra: Any) -> FineTuneJobSpec:
    return FineTuneJobSpec.model_validate(finetunejob(**extra)["spec"])


def job(
    role: str,
    *,
    finished: str | None = None,
    reason: str = "",
    suspended: bool = False,
    active: int = 0,
    owner_uid: str = "u-1",
    message: str | None = None,
    attempt: int | None = None,
    deleting: bool = False,
) -> JobState:
    return JobState(
        name=f"j-{role}",
        uid=f"{owner_uid}-{role}",
        owner_uid=owner_uid,
        role=role,
        suspended=suspended,
        active=active,
        succeeded=0,
        failed=0,
        finished=finished,
        finish_reason=reason,
        finish_message=reason if message is None else message,
        attempt=attempt,
        deleting=deleting,
    )


def pod(
    role: str,
    name: str,
    *,
    index: int | None = None,
    exit_code: int | None = None,
    summary: dict[str, Any] | None = None,
    created: str = "2026-11-28T11:00:00Z",
    ip: str | None = None,
    container_reason: str = "",
    finished_at: str = "",
    disrupted: bool = False,
) -> PodState:
    terminated = (
        Terminated(
            exit_code,
            parse_summary(json.dumps(summary)) if summary else None,
            container_reason,
            finished_at,
        )
        if exit_code is not None
        else None
    )
    return PodState(
        name=name,
        role=role,
        index=index,
        phase="Running" if exit_code is None else ("Succeeded" if exit_code == 0 else "Failed"),
        ip=ip,
        created=created,
        terminated=terminated,
        disrupted=disrupted,
    )


VALIDATED = {
    "phase": "Validating",
    "conditions": [
        {
            "type": "Validated",
            "status": "True",
            "reason": "DatasetValid",
            "message": "",
            "lastTransitionTime": "2026-11-28T11:00:00Z",
            "observedGeneration": 1,
        }
    ],
}
DATASET = {
    "ok": True,
    "kind": "validate",
    "dataset": {
        "trainExamples": 100,
        "evalExamples": 10,
        "trainTokens": 5000,
        "truncatedExamples": 1,
        "droppedExamples": 0,
        "format": "chat",
    },
}


def decide(
    status: dict[str, Any], observed: Observed, policy: Policy = ALLOW, **spec_extra: Any
) -> decisions.Decision:
    return decisions.decide(
        spec(**spec_extra), generation=1, status=status, observed=observed, policy=policy, now=NOW
    )


def conditions(decision: decisions.Decision) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in decision.status["conditions"]}


def message(decision: decisions.Decision, type_: str) -> str:
    return str(next(c["message"] for c in decision.status["conditions"] if c["type"] == type_))


def test_new_job_starts_validation() -> None:
    decision = decide({}, Observed(validation=None, training=None))
    assert decision.status["phase"] == "Validating"
    assert decision.actions == (Action.CREATE_VALIDATION,)
    assert decision.status["observedGeneration"] == 1
    assert conditions(decision)["Validated"] == ("False", "Validating")
    assert [e.reason for e in decision.events] == ["Validating"]
    assert not decision.events[0].message.startswith("Validating")  # said once, as the reason


def test_validation_running_waits() -> None:
    status = {"phase": "Validating"}
    decision = decide(status, Observed(validation=job("validate", active=1), training=None))
    assert decision.actions == ()
    assert decision.events == ()
    assert decision.status["phase"] == "Validating"


def test_validation_success_reports_dataset_and_starts_training() -> None:
    observed = Observed(
        validation=job("validate", finished="Complete"),
        training=None,
        pods=[pod("validate", "v-1", exit_code=0, summary=DATASET)],
    )
    decision = decide({"phase": "Validating"}, observed)
    assert decision.status["dataset"] == DATASET["dataset"]
    assert conditions(decision)["Validated"] == ("True", "DatasetValid")
    assert decision.actions == (Action.CREATE_TRAINING,)
    assert decision.create_suspended is False
    assert decision.status["phase"] == "Running"
    assert decision.status["startTime"] == STAMP


SHA = "0123456789abcdef0123456789abcdef01234567"


def test_validated_hub_commit_is_recorded_and_pins_every_training_attempt() -> None:
    hub = {"uri": "hf://org/tiny@main"}
    summary = {**DATASET, "baseModel": {"revision": SHA}}
    observed = Observed(
        validation=job("validate", finished="Complete"),
        training=None,
        pods=[pod("validate", "v-1", exit_code=0, summary=summary)],
    )
    decision = decide({"phase": "Validating"}, observed, baseModel=hub)
    assert decision.status["baseModel"] == {"revision": SHA}
    assert decision.actions == (Action.CREATE_TRAINING,)
    assert decision.base_model_revision == SHA
    # A later attempt, the validation pod long gone: still the validated commit.
    later = {**decision.status, "attempts": 2, "failedAttempts": 1}
    again = decide(later, Observed(validation=None, training=None), baseModel=hub)
    assert again.actions == (Action.CREATE_TRAINING,)
    assert (again.attempt, again.base_model_revision) == (2, SHA)
    assert again.status["baseModel"] == {"revision": SHA}


@pytest.mark.parametrize(
    "base_model", ["hf://org/tiny@main", "s3://models/base/"], ids=["older-validator", "s3"]
)
def test_without_a_reported_commit_training_is_not_pinned(base_model: str) -> None:
    observed = Observed(
        validation=job("validate", finished="Complete"),
        training=None,
        pods=[pod("validate", "v-1", exit_code=0, summary=DATASET)],
    )
    decision = decide({"phase": "Validating"}, observed, baseModel={"uri": base_model})
    assert decision.actions == (Action.CREATE_TRAINING,)
    assert "baseModel" not in decision.status
    assert decision.base_model_revision is None


@pytest.mark.parametrize(
    ("summary", "reason", "message"),
    [
        (
            {"ok": False, "reason": "InvalidDataset", "message": "line 3: no messages"},
            "InvalidDataset",
            "line 3: no messages",
        ),
        (
            {"ok": False, "reason": "InvalidModel", "message": "pickle weights refused"},
            "InvalidModel",
            "pickle weights refused",
        ),
        (None, "ValidationFailed", "BackoffLimitExceeded"),
    ],
    ids=["dataset", "model", "no-summary"],
)
def test_validation_failure_fails_the_job_without_training(
    summary: dict[str, Any] | None, reason: str, message: str
) -> None:
    observed = Observed(
        validation=job("validate", finished="Failed", reason="BackoffLimitExceeded"),
        training=None,
        pods=[pod("validate", "v-1", exit_code=3, summary=summary)],
    )
    decision = decide({"phase": "Validating"}, observed)
    assert decision.status["phase"] == "Failed"
    assert Action.CREATE_TRAINING not in decision.actions
    assert conditions(decision)["Failed"] == ("True", reason)
    failed = next(c for c in decision.status["conditions"] if c["type"] == "Failed")
    assert failed["message"] == message
    assert decision.status["completionTime"] == STAMP
    assert decision.events[0].type == "Warning"


def test_disallowed_image_fails_before_anything_is_created() -> None:
    decision = decide(
        {},
        Observed(validation=None, training=None),
        dataclasses.replace(ALLOW, image_allowed=False),
    )
    assert decision.actions == ()
    assert conditions(decision)["Failed"] == ("True", "ImageNotAllowed")


def test_concurrency_limit_queues() -> None:
    decision = decide(
        VALIDATED,
        Observed(
            validation=job("validate", finished="Complete"), training=None, running_in_namespace=2
        ),
        dataclasses.replace(ALLOW, max_running_per_namespace=2),
    )
    assert decision.status["phase"] == "Queued"
    assert decision.actions == ()
    assert conditions(decision)["Admitted"] == ("False", "ConcurrencyLimit")
    below = decide(
        VALIDATED,
        Observed(validation=None, training=None, running_in_namespace=1),
        dataclasses.replace(ALLOW, max_running_per_namespace=2),
    )
    assert below.actions == (Action.CREATE_TRAINING,)


def test_kueue_job_is_created_suspended_and_queued_until_admitted() -> None:
    decision = decide(VALIDATED, Observed(validation=None, training=None), queueName="q")
    assert decision.actions == (Action.CREATE_TRAINING,)
    assert decision.create_suspended is True
    assert decision.status["phase"] == "Queued"
    assert conditions(decision)["Admitted"] == ("False", "WaitingForKueue")
    waiting = decide(
        VALIDATED, Observed(validation=None, training=job("train", suspended=True)), queueName="q"
    )
    assert (waiting.status["phase"], waiting.actions) == ("Queued", ())
    admitted = decide(
        VALIDATED, Observed(validation=None, training=job("train", active=1)), queueName="q"
    )
    assert admitted.status["phase"] == "Running"
    assert conditions(admitted)["Admitted"] == ("True", "Admitted")


def test_kueue_job_suspend_flag_never_touches_the_job() -> None:
    decision = decide(
        VALIDATED,
        Observed(validation=None, training=job("train", suspended=True)),
        queueName="q",
        runPolicy={"suspend": False},
    )
    assert Action.RESUME_TRAINING not in decision.actions


@pytest.mark.parametrize(
    ("training", "suspend", "phase", "actions"),
    [
        (None, True, "Suspended", ()),
        (job("train", active=1), True, "Suspended", (Action.SUSPEND_TRAINING,)),
        (job("train", suspended=True), True, "Suspended", ()),
        (job("train", suspended=True), False, "Running", (Action.RESUME_TRAINING,)),
        (job("train", active=1), False, "Running", ()),
    ],
    ids=["before-start", "suspend", "stays-suspended", "resume", "running"],
)
def test_suspend_and_resume(
    training: JobState | None, suspend: bool, phase: str, actions: tuple[Action, ...]
) -> None:
    decision = decide(
        VALIDATED, Observed(validation=None, training=training), runPolicy={"suspend": suspend}
    )
    assert decision.status["phase"] == phase
    assert decision.actions == actions


def test_resume_clears_the_suspended_condition() -> None:
    suspended = decide(
        VALIDATED,
        Observed(validation=None, training=job("train", active=1)),
        runPolicy={"suspend": True},
    )
    assert conditions(suspended)["Suspended"] == ("True", "SuspendedByUser")
    resumed = decide(
        suspended.status, Observed(validation=None, training=job("train", suspended=True))
    )
    assert conditions(resumed)["Suspended"] == ("False", "Resumed")
    assert [e.reason for e in resumed.events] == ["Running"]


TRAIN_SUMMARY = {
    "ok": True,
    "kind": "train",
    "step": 120,
    "metrics": {
        "trainLoss": 1.2,
        "evalLoss": 1.4,
        "evalPerplexity": 4.05,
        "baseEvalLoss": 2.0,
        "evalTokenAccuracy": 0.5,
        "answerAccuracy": 0.8116,
        "baseAnswerAccuracy": 0.0145,
    },
    "output": {
        "uri": "s3://models/out/",
        "manifest": "s3://models/out/manifest.json",
        "files": 3,
    },
}


def test_success_takes_metrics_and_output_from_rank0() -> None:
    running = decide(VALIDATED, Observed(validation=None, training=job("train", active=1))).status
    running["progress"] = {"step": 100, "totalSteps": 120}
    observed = Observed(
        validation=None,
        training=job("train", finished="Complete"),
        pods=[
            pod("train", "t-0", index=0, exit_code=0, summary=TRAIN_SUMMARY),
            pod(
                "train",
                "t-1",
                index=1,
                exit_code=0,
                summary={"ok": True, "kind": "train", "rank": 1},
            ),
        ],
    )
    decision = decide(running, observed)
    assert decision.status["phase"] == "Succeeded"
    assert decision.status["metrics"] == TRAIN_SUMMARY["metrics"]
    assert decision.status["accuracy"] == "1% → 81%"  # the `kubectl get` column
    assert decision.status["output"] == {
        "uri": "s3://models/out/",
        "manifest": "s3://models/out/manifest.json",
        "files": 3,
    }
    assert decision.status["progress"] == {
        "step": 120,
        "totalSteps": 120,
        "percent": 100,
        "stage": "done",
    }
    assert conditions(decision)["Succeeded"] == ("True", "TrainingComplete")
    assert conditions(decision)["Running"][0] == "False"
    assert decision.status["completionTime"] == STAMP


@pytest.mark.parametrize(
    ("job_reason", "pods", "reason"),
    [
        (
            "PodFailurePolicy",
            [
                pod(
                    "train",
                    "t-0",
                    index=0,
                    exit_code=3,
                    summary={"ok": False, "reason": "InvalidCredentials", "message": "denied"},
                )
            ],
            "InvalidCredentials",
        ),
        (
            "PodFailurePolicy",
            [pod("train", "t-1", index=1, exit_code=3)],
            "PermanentError",
        ),
        ("DeadlineExceeded", [], "DeadlineExceeded"),
        (
            "BackoffLimitExceeded",
            [
                pod(
                    "train",
                    "t-0",
                    index=0,
                    exit_code=1,
                    summary={"ok": False, "reason": "TrainingDiverged", "message": "loss is nan"},
                )
            ],
            "TrainingDiverged",
        ),
        (
            "BackoffLimitExceeded",
            [pod("train", "t-0", index=0, exit_code=137)],
            "Error",
        ),
        (
            "BackoffLimitExceeded",
            [pod("train", "t-0", index=0, exit_code=137, container_reason="OOMKilled")],
            "OOMKilled",
        ),
    ],
    ids=["exit-3", "exit-3-no-summary", "deadline", "diverged", "crashes", "oom"],
)
def test_training_failure_reasons(job_reason: str, pods: list[PodState], reason: str) -> None:
    """The reason a job fails with once no retry is left (or none is allowed: exit 3, the
    deadline)."""
    running = {**VALIDATED, "phase": "Running", "attempts": 1}
    observed = Observed(
        validation=None,
        pods=pods,
        training=job("train", finished="Failed", reason=job_reason, attempt=1),
    )
    decision = decide(running, observed, runPolicy={"backoffLimit": 0})
    assert decision.status["phase"] == "Failed"
    assert conditions(decision)["Failed"] == ("True", reason)
    assert decision.events[0].reason == reason
    assert decision.events[0].message.startswith("Failed: ")  # the reason alone hides the phase


@pytest.mark.parametrize("phase", ["Succeeded", "Failed", "Cancelled"])
def test_final_phases_are_sticky(phase: str) -> None:
    status = {**VALIDATED, "phase": phase}
    decision = decide(status, Observed(validation=None, training=None))
    assert decision.status["phase"] == phase
    assert decision.status["conditions"][0] == VALIDATED["conditions"][0]
    assert decision.actions == ()
    assert decision.events == ()
    # Only the summary conditions are added (for jobs finished under an older operator).
    assert decisions.decide(
        spec(),
        generation=1,
        status=decision.status,
        observed=Observed(validation=None, training=None),
        policy=ALLOW,
        now=NOW + timedelta(hours=1),
    ) == decisions.Decision(status=decision.status)


def test_a_finished_job_acknowledges_a_new_generation() -> None:
    """kstatus reports InProgress while observedGeneration lags, so a finished job whose
    manifest is edited in Git must still acknowledge it, without doing anything else."""
    status = {**VALIDATED, "phase": "Succeeded", "observedGeneration": 1}
    decision = decisions.finished(status, 2, NOW)
    assert decision.status["observedGeneration"] == 2
    assert conditions(decision)["Ready"] == ("True", "Succeeded")
    assert decision.actions == ()


@pytest.mark.parametrize(
    ("status", "training", "policy", "summary"),
    [
        pytest.param({}, None, ALLOW, ("False", "True", "False"), id="validating"),
        pytest.param(VALIDATED, None, ALLOW, ("False", "True", "False"), id="running"),
        pytest.param(
            VALIDATED,
            job("train", finished="Complete"),
            ALLOW,
            ("True", "False", "False"),
            id="succeeded",
        ),
        pytest.param(
            VALIDATED,
            None,
            dataclasses.replace(ALLOW, image_allowed=False),
            ("False", "False", "True"),
            id="failed",
        ),
    ],
)
def test_summary_conditions_follow_the_phase(
    status: dict[str, Any],
    training: JobState | None,
    policy: Policy,
    summary: tuple[str, str, str],
) -> None:
    """(Ready, Reconciling, Stalled): kstatus reads InProgress, Current and Failed."""
    found = conditions(decide(status, Observed(validation=None, training=training), policy))
    assert (found["Ready"][0], found["Reconciling"][0], found["Stalled"][0]) == summary


def test_ready_explains_itself_with_the_phase_condition() -> None:
    decision = decide(
        VALIDATED, Observed(validation=None, training=None), runPolicy={"suspend": True}
    )
    assert decision.status["phase"] == "Suspended"
    assert conditions(decision)["Ready"] == ("False", "SuspendedByUser")
    # Waiting for the user, not the operator: neither InProgress nor Failed for kstatus.
    assert conditions(decision)["Reconciling"] == ("False", "Suspended")
    assert conditions(decision)["Stalled"] == ("False", "Suspended")


def test_every_phase_has_a_readiness() -> None:
    assert set(READINESS) == set(Phase)
    assert set(readiness.EXPLAINED_BY) == set(Phase)


def test_progress_is_mirrored_while_running() -> None:
    report = {
        "stage": "training",
        "step": 30,
        "totalSteps": 120,
        "epoch": 0.75,
        "loss": 1.5,
        "tokensPerSecond": 900.5,
        "etaSeconds": 60,
        "updatedAt": "2026-11-28T11:59:58Z",
        "evalLoss": 1.6,
        "lastCheckpoint": {
            "uri": "s3://models/out/checkpoints/step-30/",
            "step": 30,
            "time": "2026-11-28T11:59:00Z",
        },
    }
    decision = decide(
        {**VALIDATED, "phase": "Running"},
        Observed(
            validation=None,
            training=job("train", active=1),
            progress=ProgressReport.model_validate(report),
        ),
    )
    assert decision.status["progress"] == {
        "step": 30,
        "totalSteps": 120,
        "epoch": 0.75,
        "etaSeconds": 60,
        "tokensPerSecond": 900.5,
        "stage": "training",
        "updatedAt": "2026-11-28T11:59:58Z",
        "percent": 25,
        "lastStepTime": STAMP,
    }
    assert decision.status["metrics"]["trainLoss"] == 1.5
    assert decision.status["metrics"]["evalPerplexity"] == pytest.approx(4.953, rel=1e-3)
    assert decision.status["lastCheckpoint"]["step"] == 30
    assert conditions(decision)["Checkpointed"] == ("True", "CheckpointSaved")
    message = next(
        c["message"] for c in decision.status["conditions"] if c["type"] == "Checkpointed"
    )
    assert message == "step 30 saved to s3://models/out/checkpoints/step-30/"


def test_no_checkpoint_no_checkpointed_condition() -> None:
    decision = decide(
        {**VALIDATED, "phase": "Running"},
        Observed(validation=None, training=job("train", active=1)),
    )
    assert "Checkpointed" not in conditions(decision)


def test_attempts_follow_the_training_jobs_and_never_decrease() -> None:
    first = decide(VALIDATED, Observed(validation=None, training=None))
    assert first.actions == (Action.CREATE_TRAINING,)
    assert (first.attempt, first.status["attempts"]) == (1, 1)
    # The index has not shown the new Job yet: the create is repeated with the same number.
    again = decide(first.status, Observed(validation=None, training=None))
    assert (again.attempt, again.status) == (1, first.status)
    # A create whose status write was lost: the Job's own number wins.
    lost = decide(
        {**first.status, "attempts": 1},
        Observed(validation=None, training=job("train", active=2, attempt=3)),
    )
    assert lost.status["attempts"] == 3
    # A Job made before attempts were numbered never lowers the count.
    legacy = decide(lost.status, Observed(validation=None, training=job("train", active=1)))
    assert legacy.status["attempts"] == 3


def test_unchanged_observation_changes_nothing() -> None:
    """A second pass over the same world is a no-op: same status, no events, no actions."""
    observed = Observed(validation=None, training=job("train", active=1))
    first = decide(VALIDATED, observed)
    second = decide(first.status, observed)
    assert second.status == first.status
    assert (second.actions, second.events) == ((), ())


def test_last_transition_time_moves_only_on_status_change() -> None:
    first = decide(VALIDATED, Observed(validation=None, training=job("train", active=1)))
    later = decisions.decide(
        spec(),
        generation=2,
        status=first.status,
        observed=Observed(validation=None, training=job("train", active=1)),
        policy=ALLOW,
        now=NOW + timedelta(hours=1),
    )
    running = next(c for c in later.status["conditions"] if c["type"] == "Running")
    assert running["lastTransitionTime"] == STAMP
    assert running["observedGeneration"] == 2


def test_cancelled_when_deleted_mid_run() -> None:
    decision = decisions.cancelled({**VALIDATED, "phase": "Running"}, 1, NOW)
    assert decision.status["phase"] == "Cancelled"
    assert conditions(decision)["Failed"] == ("True", "Cancelled")
    assert decisions.cancelled({"phase": "Succeeded"}, 1, NOW).events == ()


@pytest.mark.parametrize(
    ("ttl", "phase", "finished", "expected"),
    [
        (None, "Succeeded", STAMP, None),
        (60, "Running", None, None),
        (60, "Succeeded", STAMP, 60.0),
        (60, "Failed", "2026-11-28T11:58:00Z", -60.0),
    ],
)
def test_ttl_after_finished(
    ttl: int | None, phase: str, finished: str | None, expected: float | None
) -> None:
    status = {"phase": phase, **({"completionTime": finished} if finished else {})}
    job_spec = spec(runPolicy={"ttlSecondsAfterFinished": ttl} if ttl is not None else {})
    assert decisions.seconds_until_deletion(job_spec, status, NOW) == expected


def test_oom_kill_is_named_while_restarting_and_when_failing() -> None:
    oom = pod("train", "t-0-a", index=0, exit_code=137, container_reason="OOMKilled")
    failed_job = job("train", finished="Failed", reason="PodFailurePolicy", attempt=1)
    restarting = decide(
        {**VALIDATED, "phase": "Running", "attempts": 1},
        Observed(validation=None, training=failed_job, pods=[oom]),
    )
    assert conditions(restarting)["Running"] == ("False", "Restarting")
    assert "ended (OOMKilled: pod t-0-a: the trainer ran out of memory (OOMKilled" in message_of(
        restarting, "Running"
    )
    failed = decide(
        {**VALIDATED, "phase": "Running", "attempts": 1},
        Observed(validation=None, training=failed_job, pods=[oom]),
        runPolicy={"backoffLimit": 0},
    )
    assert conditions(failed)["Failed"] == ("True", "OOMKilled")
    assert "spec.resources.memory" in message_of(failed, "Failed")
    assert "PodFailurePolicy" in message_of(failed, "Failed")


def message_of(decision: decisions.Decision, type_: str) -> str:
    return str(next(c["message"] for c in decision.status["conditions"] if c["type"] == type_))


WAITING = "2026-11-28T11:58:00Z"
"""Blocked 120 s before NOW: under the 300 s timeout."""
TIMED_OUT = "2026-11-28T11:54:00Z"
"""Blocked 360 s before NOW: past the timeout."""
BLOCKED = {
    "image": (
        {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "bad:1"'}},
        "True",
        "ImagePullFailed",
        'Back-off pulling image "bad:1"',
    ),
    "secret": (
        {
            "waiting": {
                "reason": "CreateContainerConfigError",
                "message": 'secret "s3-credentials" not found',
            }
        },
        "True",
        "ConfigError",
        'secret "s3-credentials" not found',
    ),
    "unschedulable": (
        {},
        "False",
        "Unschedulable",
        "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
    ),
}


def pod_that_cannot_start(kind: str, role: str, since: str) -> PodState:
    """A Pending pod as the apiserver shows it, reduced by ``observed.pod_state``."""
    state, scheduled, reason, message = BLOCKED[kind]
    condition = {"type": "PodScheduled", "status": scheduled, "lastTransitionTime": since}
    if scheduled == "False":
        condition.update(reason=reason, message=message)
    name = f"demo-{role}-x"
    return pod_state(
        {
            "metadata": {
                "name": name,
                "labels": {"finetune.dev/job": "demo", "finetune.dev/role": role},
                "annotations": {"batch.kubernetes.io/job-completion-index": "0"}
                if role == "train"
                else {},
                "creationTimestamp": "2026-11-28T11:50:00Z",
            },
            "status": {
                "phase": "Pending",
                "conditions": [condition],
                "containerStatuses": [{"name": "trainer", "state": state}] if state else [],
            },
        }
    )


@pytest.mark.parametrize("kind", list(BLOCKED))
def test_validation_pod_that_cannot_start_is_shown_then_fails_the_job(kind: str) -> None:
    _, _, reason, kubelet_message = BLOCKED[kind]
    validating = {"phase": "Validating"}
    stuck = Observed(
        validation=job("validate", active=1),
        training=None,
        pods=[pod_that_cannot_start(kind, "validate", WAITING)],
    )
    waiting = decide(validating, stuck)
    assert waiting.status["phase"] == "Validating"
    assert conditions(waiting)["Validated"] == ("False", reason)
    assert (
        message_of(waiting, "Validated") == f"pod demo-validate-x cannot start: {kubelet_message}"
    )
    assert (waiting.actions, waiting.events) == ((), ())

    late = dataclasses.replace(stuck, pods=[pod_that_cannot_start(kind, "validate", TIMED_OUT)])
    failed = decide(waiting.status, late)
    assert failed.status["phase"] == "Failed"
    assert conditions(failed)["Failed"] == ("True", reason)
    assert kubelet_message in message_of(failed, "Failed")
    assert "did not start within 300s" in message_of(failed, "Failed")
    assert failed.actions == (Action.DELETE_VALIDATION,)
    assert [(e.type, e.reason) for e in failed.events] == [("Warning", reason)]


def test_validation_problem_that_went_away_is_cleared() -> None:
    stuck = decide(
        {"phase": "Validating"},
        Observed(
            validation=job("validate", active=1),
            training=None,
            pods=[pod_that_cannot_start("secret", "validate", WAITING)],
        ),
    )
    started = decide(
        stuck.status,
        Observed(validation=job("validate", active=1), training=None, pods=[pod("validate", "v")]),
    )
    assert conditions(started)["Validated"] == ("False", "Validating")


@pytest.mark.parametrize("kind", list(BLOCKED))
def test_training_pod_that_cannot_start_is_shown_then_fails_the_job(kind: str) -> None:
    _, _, reason, kubelet_message = BLOCKED[kind]
    running = decide(VALIDATED, Observed(validation=None, training=job("train", active=1)))
    stuck = Observed(
        validation=None,
        training=job("train", active=1),
        pods=[pod_that_cannot_start(kind, "train", WAITING)],
    )
    waiting = decide(running.status, stuck)
    assert waiting.status["phase"] == "Running"
    assert conditions(waiting)["Running"] == ("False", reason)
    assert kubelet_message in message_of(waiting, "Running")
    assert waiting.actions == ()
    again = decide(waiting.status, stuck)
    assert again.status == waiting.status  # no write while nothing changes

    late = dataclasses.replace(stuck, pods=[pod_that_cannot_start(kind, "train", TIMED_OUT)])
    failed = decide(waiting.status, late)
    assert failed.status["phase"] == "Failed"
    assert conditions(failed)["Failed"] == ("True", reason)
    assert failed.actions == (Action.DELETE_TRAINING,)

    recovered = decide(
        waiting.status, dataclasses.replace(stuck, pods=[pod("train", "t", index=0)])
    )
    assert conditions(recovered)["Running"] == ("True", "Training")


def test_blocked_pod_timeout_is_the_policy_s() -> None:
    stuck = Observed(
        validation=None,
        training=job("train", active=1),
        pods=[pod_that_cannot_start("image", "train", WAITING)],
    )
    patient = decide(VALIDATED, stuck, dataclasses.replace(ALLOW, blocked_pod_timeout=121))
    strict = decide(VALIDATED, stuck, dataclasses.replace(ALLOW, blocked_pod_timeout=120))
    assert (patient.status["phase"], strict.status["phase"]) == ("Running", "Failed")


def test_validation_oom_kill_is_named() -> None:
    observed = Observed(
        validation=job("validate", finished="Failed", reason="BackoffLimitExceeded"),
        training=None,
        pods=[pod("validate", "v-1", exit_code=137, container_reason="OOMKilled")],
    )
    decision = decide({"phase": "Validating"}, observed)
    assert conditions(decision)["Failed"] == ("True", "OOMKilled")
    assert message_of(decision, "Failed") == (
        "pod v-1: validation ran out of memory (OOMKilled, exit code 137)"
    )


def test_leftover_validation_job_of_an_earlier_owner_is_waited_for_not_adopted() -> None:
    old = job("validate", finished="Complete", owner_uid="u-0")
    decision = decide({}, Observed(validation=None, training=None, leftovers=[old]))
    assert decision.actions == ()
    assert decision.status["phase"] == "Validating"
    status, reason = conditions(decision)["Validated"]
    assert (status, reason) == ("False", "WaitingForOldChildren")
    message = decision.status["conditions"][0]["message"]
    assert "j-validate" in message and "u-0" in message

    # Once garbage collection took it, the job validates on its own.
    decision = decide(decision.status, Observed(validation=None, training=None))
    assert decision.actions == (Action.CREATE_VALIDATION,)


def test_leftover_training_job_holds_the_training_step() -> None:
    old = job("train", finished="Complete", owner_uid="")
    observed = Observed(
        validation=job("validate", finished="Complete"),
        training=None,
        pods=[pod("validate", "v-1", exit_code=0, summary=DATASET)],
        leftovers=[old],
    )
    decision = decide({"phase": "Validating"}, observed)
    assert Action.CREATE_TRAINING not in decision.actions
    assert decision.status["phase"] == "Queued"
    assert conditions(decision)["Admitted"] == ("False", "WaitingForOldChildren")
    assert "no owner" in message(decision, "Admitted")


def test_unknown_fields_are_reported_and_the_job_carries_on() -> None:
    running = {**VALIDATED, "phase": "Running"}
    observed = Observed(validation=job("validate", finished="Complete"), training=job("train"))
    decision = decisions.decide(
        spec(),
        generation=2,
        status=running,
        observed=observed,
        policy=ALLOW,
        now=NOW,
        unknown_fields=("spec.resources.topologyHint",),
    )
    assert decision.status["phase"] == "Running"
    assert conditions(decision)["SpecUnderstood"] == ("False", "UnknownFields")
    assert "spec.resources.topologyHint" in str(decision.status["conditions"])

    # The field removed (or the operator upgraded): the condition turns True, and stays.
    decision = decide(decision.status, observed)
    assert conditions(decision)["SpecUnderstood"] == ("True", "Understood")


def test_understood_spec_adds_no_condition() -> None:
    decision = decide({}, Observed(validation=None, training=None))
    assert "SpecUnderstood" not in conditions(decision)


@pytest.mark.parametrize("phase", ["Running", "Queued", "Suspended"])
def test_unreadable_spec_never_ends_a_job_that_got_past_validation(phase: str) -> None:
    decision = decisions.invalid_spec(
        {**VALIDATED, "phase": phase}, 2, "numNodes: bad", NOW, RUNNING_CHILDREN
    )
    assert decision.status["phase"] == phase
    assert conditions(decision)["SpecUnderstood"] == ("False", "InvalidSpec")
    assert decision.events == ()
    assert decision.actions == ()  # the training Job runs on


@pytest.mark.parametrize("phase", [None, "Validating"])
def test_unreadable_spec_fails_a_job_before_training(phase: str | None) -> None:
    status = {"phase": phase} if phase else {}
    observed = Observed(validation=None, training=None)
    decision = decisions.invalid_spec(status, 1, "numNodes: bad", NOW, observed)
    assert decision.status["phase"] == "Failed"
    assert conditions(decision)["Failed"] == ("True", "InvalidSpec")


RUNNING_CHILDREN = Observed(validation=job("validate", finished="Complete"), training=job("train"))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda status: decide(
                status, RUNNING_CHILDREN, dataclasses.replace(ALLOW, image_allowed=False)
            ),
            "ImageNotAllowed",
        ),
        (
            lambda status: decisions.child_rejected(
                status, 1, "spec.x: Invalid value", NOW, RUNNING_CHILDREN
            ),
            "ChildRejected",
        ),
    ],
    ids=["image-taken-off-the-allow-list", "child-rejected"],
)
def test_a_job_that_fails_stops_its_running_training_job(make: Any, reason: str) -> None:
    decision = make({**VALIDATED, "phase": "Running"})
    assert decision.status["phase"] == "Failed"
    assert conditions(decision)["Failed"] == ("True", reason)
    assert decision.actions == (Action.DELETE_TRAINING,)


def test_invalid_spec_during_validation_stops_the_validation_job() -> None:
    observed = Observed(validation=job("validate", active=1), training=None)
    decision = decisions.invalid_spec({"phase": "Validating"}, 1, "bad", NOW, observed)
    assert decision.status["phase"] == "Failed"
    assert decision.actions == (Action.DELETE_VALIDATION,)


def test_finished_children_are_left_alone_when_the_job_fails() -> None:
    observed = Observed(
        validation=job("validate", finished="Complete"),
        training=job("train", finished="Failed", reason="BackoffLimitExceeded"),
    )
    decision = decide({**VALIDATED, "phase": "Running"}, observed, runPolicy={"backoffLimit": 0})
    assert decision.status["phase"] == "Failed"
    assert decision.actions == ()


def running_since(transition: str, progress: dict[str, Any] | None = None) -> dict[str, Any]:
    running = {
        "type": "Running",
        "status": "True",
        "reason": "Training",
        "message": "",
        "lastTransitionTime": transition,
        "observedGeneration": 1,
    }
    status = {**VALIDATED, "phase": "Running", "conditions": [*VALIDATED["conditions"], running]}
    return status | ({"progress": progress} if progress else {})


STALL = dataclasses.replace(ALLOW, stall_timeout=1800)
TRAINING = Observed(
    validation=job("validate", finished="Complete"), training=job("train", active=1)
)


def report_at(step: int) -> ProgressReport:
    return ProgressReport.model_validate({"stage": "training", "step": step, "totalSteps": 100})


@pytest.mark.parametrize(
    ("case", "status", "progress", "policy", "stalled"),
    [
        (
            "step-unchanged-past-timeout",
            running_since(
                "2026-11-28T10:00:00Z", {"step": 7, "lastStepTime": "2026-11-28T11:00:00Z"}
            ),
            report_at(7),
            STALL,
            True,
        ),
        (
            "step-unchanged-within-timeout",
            running_since(
                "2026-11-28T10:00:00Z", {"step": 7, "lastStepTime": "2026-11-28T11:45:00Z"}
            ),
            report_at(7),
            STALL,
            False,
        ),
        (
            "step-advanced",
            running_since(
                "2026-11-28T10:00:00Z", {"step": 7, "lastStepTime": "2026-11-28T11:00:00Z"}
            ),
            report_at(8),
            STALL,
            False,
        ),
        ("no-progress-ever", running_since("2026-11-28T11:00:00Z"), None, STALL, True),
        (
            "just-resumed",
            running_since(
                "2026-11-28T11:59:00Z", {"step": 7, "lastStepTime": "2026-11-28T09:00:00Z"}
            ),
            None,
            STALL,
            False,
        ),
        ("disabled", running_since("2026-11-28T00:00:00Z"), None, ALLOW, False),
    ],
)
def test_stall_detection(
    case: str,
    status: dict[str, Any],
    progress: ProgressReport | None,
    policy: Policy,
    stalled: bool,
) -> None:
    observed = dataclasses.replace(TRAINING, progress=progress)
    decision = decide(status, observed, policy)
    if stalled:
        assert conditions(decision)["Failed"] == ("True", "Stalled")
        assert decision.actions == (Action.DELETE_TRAINING,)
        assert "has not advanced" in message(decision, "Failed")
    else:
        assert decision.status["phase"] == "Running", case
        assert decision.actions == ()


def test_step_change_time_is_kept_while_the_step_stays() -> None:
    status = running_since(STAMP, {"step": 7, "lastStepTime": "2026-11-28T11:50:00Z"})
    same = decide(status, dataclasses.replace(TRAINING, progress=report_at(7)), STALL)
    assert same.status["progress"]["lastStepTime"] == "2026-11-28T11:50:00Z"
    moved = decide(status, dataclasses.replace(TRAINING, progress=report_at(8)), STALL)
    assert moved.status["progress"]["lastStepTime"] == STAMP


@pytest.mark.parametrize("stamp", ["2099-01-01T00:00:00Z", "not a time"], ids=["future", "bad"])
def test_a_wrong_updated_at_never_freezes_the_mirrored_progress(stamp: str) -> None:
    """Each pass mirrors the newest step whatever the trainer's clock says, and writes only a
    time the apiserver accepts (the operator's, here)."""
    status = running_since(STAMP)
    for step, minute in ((7, 1), (8, 2)):
        clock = NOW + timedelta(minutes=minute)
        report = ProgressReport(stage=Stage.TRAINING, step=step, updated_at=stamp)
        decision = decisions.decide(
            spec(),
            generation=1,
            status=status,
            observed=dataclasses.replace(TRAINING, progress=report),
            policy=STALL,
            now=clock,
        )
        status = decision.status
        assert status["progress"]["step"] == step
        assert status["progress"]["updatedAt"] == rfc3339(clock)
        assert status["progress"]["lastStepTime"] == rfc3339(clock)


REFUSED = dataclasses.replace(
    ALLOW,
    refusal=Refusal(PolicyReason.SECRET_REF_REQUIRED, "spec.storage.secretRef is required"),
)


def test_a_refused_spec_fails_before_any_pod_is_created() -> None:
    decision = decide({}, Observed(validation=None, training=None), REFUSED)
    assert decision.actions == ()
    assert conditions(decision)["Failed"] == ("True", "SecretRefRequired")
    assert conditions(decision)["Validated"] == ("False", "SecretRefRequired")
    assert decision.events[0].reason == "SecretRefRequired"
    assert "spec.storage.secretRef" in decision.events[0].message


def test_a_refused_spec_stops_its_running_validation() -> None:
    """Settings changed under a job (operator restarted with requireSecretRef)."""
    observed = Observed(validation=job("validate", active=1), training=None)
    decision = decide({"phase": "Validating"}, observed, REFUSED)
    assert decision.status["phase"] == "Failed"
    assert decision.actions == (Action.DELETE_VALIDATION,)


def test_a_refusal_leaves_a_job_whose_training_started_under_earlier_settings() -> None:
    decision = decide(running_since(STAMP), TRAINING, REFUSED)
    assert decision.status["phase"] == "Running"
    assert decision.actions == ()


# -- Multi-node jobs fail and restart as a group ---------------------------------------------


def fail_job_message(pod_name: str, *, exit_code: int | None = None, rule: int = 2) -> str:
    """The Job controller's Failed message when a podFailurePolicy FailJob rule matched."""
    if exit_code is None:
        return (
            f"Pod team-a/{pod_name} has condition DisruptionTarget matching FailJob rule "
            f"at index {rule}"
        )
    return (
        f"Container trainer for pod team-a/{pod_name} failed with exit code {exit_code} "
        f"matching FailJob rule at index {rule}"
    )


PUBLISHED = pod("train", "t-0", index=0, exit_code=0, summary=TRAIN_SUMMARY)
CRASHED_1 = pod(
    "train",
    "t-1",
    index=1,
    exit_code=1,
    summary={"ok": False, "reason": "Error", "message": "collective failed"},
    finished_at="2026-11-28T11:59:00Z",
)
STOPPED_0 = pod("train", "t-0", index=0, exit_code=143, finished_at="2026-11-28T11:59:00Z")
"""Rank 0 terminated by the Job controller after another rank's failure ended the Job."""
EVICTED_1 = pod("train", "t-1", index=1, exit_code=143, disrupted=True)
INVALID_1 = pod(
    "train",
    "t-1",
    index=1,
    exit_code=3,
    summary={"ok": False, "reason": "InvalidModel", "message": "no safetensors"},
)


@pytest.mark.parametrize(
    ("failed_attempts", "message", "pods", "expected"),
    [
        # One rank fails: the failure is counted and the next attempt starts (whole group).
        (0, fail_job_message("t-1", exit_code=1), [CRASHED_1, STOPPED_0], ("Running", 1)),
        # ... the same when the message is not the Job controller's (the pods tell).
        (0, "", [STOPPED_0, CRASHED_1], ("Running", 1)),
        # runPolicy.backoffLimit (2) exhausted: Failed, with the rank's own reason.
        (2, fail_job_message("t-1", exit_code=1), [CRASHED_1], ("Failed", 3)),
        # Rank 0 published, then rank 1 failed: the output exists, the job succeeded.
        (0, fail_job_message("t-1", exit_code=1), [PUBLISHED, CRASHED_1], ("Succeeded", 0)),
        # Exit 3 on any rank: Failed at once, whatever retries are left.
        (0, fail_job_message("t-1", exit_code=3, rule=0), [INVALID_1, STOPPED_0], ("Failed", 0)),
        (0, fail_job_message("t-1", exit_code=3, rule=0), [], ("Failed", 0)),
        # Disruption (condition DisruptionTarget; an evicted pod may be gone already): restarted,
        # not counted, even with every retry used.
        (2, fail_job_message("t-1", rule=1), [STOPPED_0], ("Running", 2)),
        (2, "BackoffLimitExceeded", [EVICTED_1], ("Running", 2)),
        # Exit 143 first (SIGTERM from outside: a drain, a deleted pod): a disruption too.
        (2, fail_job_message("t-0", exit_code=143), [STOPPED_0], ("Running", 2)),
    ],
    ids=[
        "rank-fails-restarts-group",
        "rank-fails-found-by-pods",
        "backoff-exhausted",
        "published-then-rank-1-failed",
        "exit-3-on-rank-1",
        "exit-3-pods-gone",
        "disruption-not-counted",
        "disruption-found-by-pods",
        "sigterm-not-counted",
    ],
)
def test_a_failed_attempt_ends_the_job_or_restarts_the_group(
    failed_attempts: int, message: str, pods: list[PodState], expected: tuple[str, int]
) -> None:
    status = {**VALIDATED, "phase": "Running", "attempts": 1, "failedAttempts": failed_attempts}
    failed = job("train", finished="Failed", reason="PodFailurePolicy", message=message, attempt=1)
    decision = decide(status, Observed(validation=None, training=failed, pods=pods))
    phase, failures = expected
    assert (decision.status["phase"], decision.status["failedAttempts"]) == (phase, failures)
    assert decision.actions == ()  # nothing deleted before the failure is written
    if phase == "Running":
        assert decision.status["attempts"] == 2
        assert conditions(decision)["Running"][0] == "False"
        assert "restarting every rank from the last checkpoint as attempt 2" in message_of(
            decision, "Running"
        )
        assert [e.reason for e in decision.events] == [conditions(decision)["Running"][1]]
    else:
        assert decision.status["attempts"] == 1
    if phase == "Failed":
        assert conditions(decision)["Failed"][1] in ("Error", "InvalidModel", "PermanentError")


def test_disruption_and_failure_reasons_differ() -> None:
    status = {**VALIDATED, "phase": "Running", "attempts": 1}
    disrupted = decide(
        status,
        Observed(
            validation=None,
            training=job(
                "train", finished="Failed", message=fail_job_message("t-1", rule=1), attempt=1
            ),
        ),
    )
    assert conditions(disrupted)["Running"] == ("False", "RestartingAfterDisruption")
    assert "not counted against runPolicy.backoffLimit" in message_of(disrupted, "Running")
    crashed = decide(
        status,
        Observed(
            validation=None,
            training=job(
                "train",
                finished="Failed",
                message=fail_job_message("t-1", exit_code=1),
                attempt=1,
            ),
            pods=[CRASHED_1],
        ),
    )
    assert conditions(crashed)["Running"] == ("False", "Restarting")
    assert "pod t-1: collective failed" in message_of(crashed, "Running")
    assert "1 of 2 retries left" in message_of(crashed, "Running")


def test_a_group_restart_end_to_end() -> None:
    """Record the failure, then delete the Job in the foreground, wait while it goes, create
    attempt 2 under the same name with the rest of the deadline; each pass repeated changes
    nothing (an operator restarted anywhere in between neither loses nor double-counts it)."""
    start = decide(VALIDATED, Observed(validation=None, training=None))
    running = decide(
        start.status, Observed(validation=None, training=job("train", active=2, attempt=1))
    ).status
    failed = job(
        "train",
        finished="Failed",
        reason="PodFailurePolicy",
        message=fail_job_message("t-1", exit_code=1),
        attempt=1,
    )
    seen = Observed(validation=None, training=failed, pods=[CRASHED_1])
    recorded = decide(running, seen)
    assert (recorded.status["attempts"], recorded.status["failedAttempts"]) == (2, 1)
    assert recorded.actions == ()

    delete = decide(recorded.status, seen)
    assert delete.actions == (Action.DELETE_ATTEMPT,)
    assert delete.status == recorded.status
    assert delete.events == ()

    going = Observed(validation=None, training=dataclasses.replace(failed, deleting=True))
    waiting = decide(recorded.status, going)
    assert (waiting.actions, waiting.status) == ((), recorded.status)

    later = NOW + timedelta(hours=1)
    created = decisions.decide(
        spec(),
        generation=1,
        status=recorded.status,
        observed=Observed(validation=None, training=None),
        policy=ALLOW,
        now=later,
    )
    assert created.actions == (Action.CREATE_TRAINING,)
    assert created.attempt == 2
    assert created.active_deadline_seconds == 86400 - 3600
    assert conditions(created)["Running"] == ("True", "Training")
    assert message_of(created, "Running").endswith("attempt 2")
    assert (created.status["attempts"], created.status["failedAttempts"]) == (2, 1)
    assert created.status["phase"] == "Running"

    repeated = decisions.decide(
        spec(),
        generation=1,
        status=created.status,
        observed=Observed(validation=None, training=None),
        policy=ALLOW,
        now=later,
    )
    assert (repeated.attempt, repeated.status) == (2, created.status)


def test_no_deadline_left_for_the_next_attempt_fails_the_job() -> None:
    status = {
        **VALIDATED,
        "phase": "Running",
        "attempts": 2,
        "startTime": "2026-11-28T11:00:00Z",
    }
    decision = decide(
        status, Observed(validation=None, training=None), runPolicy={"activeDeadlineSeconds": 60}
    )
    assert decision.actions == ()
    assert conditions(decision)["Failed"] == ("True", "DeadlineExceeded")


def test_rank_0_published_succeeds_while_another_rank_still_runs() -> None:
    """The output is complete once rank 0 has published: the job succeeds without waiting for
    the other ranks (whose Job ends on its own)."""
    decision = decide(
        {**VALIDATED, "phase": "Running", "attempts": 1},
        Observed(
            validation=None,
            training=job("train", active=1, attempt=1),
            pods=[PUBLISHED, pod("train", "t-1", index=1)],
        ),
    )
    assert decision.status["phase"] == "Succeeded"
    assert decision.status["output"]["manifest"] == "s3://models/out/manifest.json"
    assert decision.actions == ()


SUCCEEDED_AT = {"phase": "Succeeded", "completionTime": STAMP}


@pytest.mark.parametrize(
    ("queue", "action"),
    [({}, Action.SUSPEND_TRAINING), ({"queueName": "q"}, Action.DELETE_TRAINING)],
)
def test_ranks_still_running_after_success_are_stopped_once_the_grace_passed(
    queue: dict[str, Any], action: Action
) -> None:
    training = job("train", active=1)
    during = decisions.leftover_ranks(
        spec(**queue), SUCCEEDED_AT, training, NOW + timedelta(seconds=30), 120
    )
    assert during == decisions.LeftoverRanks(wait_seconds=90.0)
    after = decisions.leftover_ranks(
        spec(**queue), SUCCEEDED_AT, training, NOW + timedelta(seconds=121), 120
    )
    assert after == decisions.LeftoverRanks(action=action)


@pytest.mark.parametrize(
    ("status", "training"),
    [
        (SUCCEEDED_AT, job("train", finished="Complete")),
        (SUCCEEDED_AT, job("train", active=1, suspended=True)),
        (SUCCEEDED_AT, job("train", active=1, deleting=True)),
        (SUCCEEDED_AT, job("train", active=0)),
        (SUCCEEDED_AT, None),
        ({"phase": "Running"}, job("train", active=1)),
    ],
    ids=["finished", "suspended", "deleting", "no-pods", "no-job", "not-succeeded"],
)
def test_nothing_is_stopped_unless_a_succeeded_job_still_runs_pods(
    status: dict[str, Any], training: JobState | None
) -> None:
    later = NOW + timedelta(hours=1)
    assert (
        decisions.leftover_ranks(spec(), status, training, later, 120) == decisions.LeftoverRanks()
    )
