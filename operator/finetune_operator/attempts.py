"""How a training attempt ended, read from its Job and pods. Pure.

Each attempt is one Indexed Job whose ``podFailurePolicy`` fails the whole Job on the first
failure of any rank (``builders._train_failure_rules``), so the ranks stop and restart as a
group. Once it has failed, ``decisions`` asks ``ended`` what happened:

- ``PUBLISHED``: rank 0 exited 0 with a summary naming the published output. The job succeeded,
  whatever another rank did afterwards (a rank failing after the manifest was written cannot
  unpublish it).
- ``PERMANENT``: some rank exited 3 (bad input): the FineTuneJob fails, never retried.
- ``DEADLINE``: activeDeadlineSeconds passed: fails, never retried.
- ``DISRUPTED``: the first failure was a disruption (condition DisruptionTarget: preemption,
  eviction, a node going away) or a rank stopped by SIGTERM from outside (exit 143: a drain, a
  deleted pod). Restarted without counting against runPolicy.backoffLimit.
- ``FAILED``: anything else (a crash, OOM, a diverged loss, storage unavailable). Restarted
  while runPolicy.backoffLimit allows.

Which pod failed first: the Job controller names it, with the index of the rule it matched, in
the Job's Failed message; pods it deleted (the other ranks) and evicted pods are gone from the
index by then, so the message is the primary source and the remaining pods the fallback.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from finetune_api import pod as contract
from finetune_api.reports import TrainSummary
from finetune_operator import builders
from finetune_operator.observed import JobState, PodState, Terminated


class End(enum.Enum):
    PUBLISHED = "published"
    PERMANENT = "permanent"
    DEADLINE = "deadline"
    DISRUPTED = "disrupted"
    FAILED = "failed"


@dataclass(frozen=True)
class Ending:
    """How an attempt ended, in the FineTuneJob's terms."""

    end: End
    reason: str
    """The Failed condition's reason should the job end with it (``Reason`` of the pod's
    summary, ``OOMKilled``, ...)."""
    message: str
    pod: str = ""
    """The pod whose failure ended the attempt (rank 0's for PUBLISHED), if known."""

    @property
    def final(self) -> bool:
        """The FineTuneJob ends with this attempt."""
        return self.end in (End.PUBLISHED, End.PERMANENT, End.DEADLINE)

    @property
    def counted(self) -> bool:
        """A restart after it counts against runPolicy.backoffLimit."""
        return self.end is End.FAILED


_FAIL_JOB_MESSAGE = re.compile(
    r"(?:Container \S+ for pod|Pod) [^/\s]+/(?P<pod>\S+) "
    r"(?:failed with exit code (?P<code>-?\d+)|has condition (?P<condition>\S+)) "
    r"matching FailJob rule at index (?P<rule>\d+)"
)
"""The Job controller's message when a podFailurePolicy FailJob rule matched
(pkg/controller/job/pod_failure_policy.go)."""


@dataclass(frozen=True)
class _Cause:
    pod: str
    exit_code: int | None
    rule: int | None


def _cause_from_message(job: JobState) -> _Cause | None:
    found = _FAIL_JOB_MESSAGE.search(job.finish_message or "")
    if found is None:
        return None
    code = found.group("code")
    return _Cause(found.group("pod"), int(code) if code else None, int(found.group("rule")))


def published(pods: Sequence[PodState]) -> PodState | None:
    """Rank 0's pod that exited 0 after publishing (its summary names the output), if any."""
    done = [
        p
        for p in pods
        if p.role == "train"
        and p.index == 0
        and p.terminated is not None
        and p.terminated.exit_code == 0
        and isinstance(p.terminated.summary, TrainSummary)
        and p.terminated.summary.output is not None
    ]
    return max(done, key=lambda p: p.created) if done else None


def _failed(pods: Sequence[PodState]) -> list[PodState]:
    """Training pods that ended in failure, the first to end first (on a tie, one that was not
    stopped by SIGTERM first: that is more likely the cause than the consequence)."""
    failed = [
        p
        for p in pods
        if p.role == "train"
        and (p.phase == "Failed" or (p.terminated is not None and p.terminated.exit_code != 0))
    ]
    return sorted(
        failed,
        key=lambda p: (
            p.terminated.finished_at if p.terminated and p.terminated.finished_at else "~",
            p.terminated is not None and p.terminated.exit_code == contract.EXIT_PREEMPTED,
            p.created,
        ),
    )


def _killed(term: Terminated) -> str:
    return f"{term.container_reason}, exit code {term.exit_code}"


def oom_message(pod: str, term: Terminated) -> str:
    """Why a training pod was OOM-killed, and what the user can change."""
    return (
        f"pod {pod}: the trainer ran out of memory ({_killed(term)}); set or "
        "raise spec.resources.memory, or lower hyperparameters.microBatchSize or maxSeqLength"
    )


def _failure(pod: PodState | None, job: JobState) -> tuple[str, str]:
    """The reason and message a failed pod explains itself with."""
    job_words = f"{job.finish_reason}: {job.finish_message}" if job.finish_reason else ""
    term = pod.terminated if pod else None
    if pod is not None and term is not None and term.reason:
        return term.reason, f"pod {pod.name}: {term.message or job_words}"
    if pod is not None and term is not None and term.oom_killed:
        # Killed by the kernel, the trainer wrote no message; the kubelet's reason says why.
        return "OOMKilled", f"{oom_message(pod.name, term)} ({job_words})"
    if pod is not None and term is not None:
        return "Error", f"pod {pod.name} exited with code {term.exit_code} ({job_words})"
    return job.finish_reason or "Error", job.finish_message or "the training Job failed"


def ended(job: JobState, pods: Sequence[PodState]) -> Ending:
    """How the attempt run by the failed training Job ``job`` ended; ``pods``: its pods that
    remain."""
    train = [p for p in pods if p.role == "train"]
    if (done := published(train)) is not None:
        return Ending(End.PUBLISHED, "TrainingComplete", "rank 0 published the output", done.name)
    if job.finish_reason == "DeadlineExceeded":
        message = job.finish_message or "runPolicy.activeDeadlineSeconds passed"
        return Ending(End.DEADLINE, "DeadlineExceeded", message)
    cause = _cause_from_message(job)
    failed = _failed(train)
    by_name = {p.name: p for p in train}
    first = by_name.get(cause.pod) if cause else None
    first = first or (failed[0] if failed else None)
    permanent = next(
        (p for p in failed if p.terminated and p.terminated.exit_code == contract.EXIT_PERMANENT),
        None,
    )
    if permanent is not None or (cause and cause.rule == builders.TRAIN_RULE_PERMANENT):
        culprit = permanent or first
        reason, message = _failure(culprit, job)
        if culprit is None or reason == "Error":
            reason = "PermanentError"  # exit 3 without a message (or its pod is gone)
        return Ending(
            End.PERMANENT,
            reason,
            message,
            culprit.name if culprit else (cause.pod if cause else ""),
        )
    name = first.name if first else (cause.pod if cause else "")
    if cause is not None:
        # The Job controller said which rank ended the attempt and why.
        by_condition = cause.rule == builders.TRAIN_RULE_DISRUPTION or bool(
            first and first.disrupted
        )
        sigterm = cause.exit_code == contract.EXIT_PREEMPTED
    else:
        by_condition = any(p.disrupted for p in train)
        sigterm = (
            first is not None
            and first.terminated is not None
            and first.terminated.exit_code == contract.EXIT_PREEMPTED
        )
    disrupted = by_condition or sigterm
    if disrupted:
        why = (
            f"pod {name} was disrupted (preempted, evicted, or its node went away)"
            if by_condition
            else f"pod {name} was stopped by SIGTERM (exit code {contract.EXIT_PREEMPTED})"
        )
        return Ending(End.DISRUPTED, "Disrupted", why, name)
    reason, message = _failure(first, job)
    return Ending(End.FAILED, reason, message, name)
