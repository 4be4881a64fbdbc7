"""What the operator sees of a job's children, reduced to small typed records.

The Kopf indexes store these records (not whole bodies), keyed by (namespace, FineTuneJob name);
the phase machine in ``decisions`` reads only these. Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from finetune_api.reports import FailureSummary, Summary, parse_summary
from finetune_operator import names

BlockedReason = Literal["ImagePullFailed", "ConfigError", "Unschedulable"]

BLOCKING_WAIT_REASONS: Mapping[str, BlockedReason] = {
    "ErrImagePull": "ImagePullFailed",
    "ImagePullBackOff": "ImagePullFailed",
    "InvalidImageName": "ImagePullFailed",
    "ErrImageNeverPull": "ImagePullFailed",
    "CreateContainerConfigError": "ConfigError",
}
"""Waiting reasons of the trainer container that mean the kubelet cannot start it until someone
fixes the image reference, the registry access, or the Secret (the message names it), and the
reason the job shows for each. Other waiting reasons (ContainerCreating, a slow pull) are
progress."""


@dataclass(frozen=True)
class Terminated:
    """A finished trainer container: its exit code and the JSON summary it left (if any)."""

    exit_code: int
    summary: Summary | None
    """The parsed termination message, or None if absent or not a summary."""
    container_reason: str = ""
    """The kubelet's reason: OOMKilled (memory limit), Error, Completed, ..."""
    finished_at: str = ""
    """When the container ended (RFC 3339, whole seconds), "" if unknown."""

    @property
    def oom_killed(self) -> bool:
        return self.container_reason == "OOMKilled"

    @property
    def reason(self) -> str | None:
        return self.summary.reason if isinstance(self.summary, FailureSummary) else None

    @property
    def message(self) -> str | None:
        return self.summary.message if isinstance(self.summary, FailureSummary) else None


@dataclass(frozen=True)
class Blocked:
    """A pod that cannot start, in the job's terms, with the kubelet's or scheduler's words."""

    reason: BlockedReason
    message: str
    since: str
    """When the problem could first have appeared: the PodScheduled condition's last
    transition (scheduling, for container problems; giving up, for Unschedulable), else the
    pod's creation."""


@dataclass(frozen=True)
class PodState:
    name: str
    role: str
    index: int | None
    """Completion index of an Indexed Job's pod (= node rank); None for the validation pod."""
    phase: str
    ip: str | None
    created: str
    terminated: Terminated | None
    blocked: Blocked | None = None
    owner_uid: str = ""
    """UID of the Job that controls the pod: pods of an earlier FineTuneJob's Jobs that share
    this job's name are told apart by it."""
    disrupted: bool = False
    """Condition DisruptionTarget is True: preempted, evicted, or its node went away; not the
    trainer's fault."""
    uid: str = ""


@dataclass(frozen=True)
class JobState:
    name: str
    uid: str
    owner_uid: str
    """UID of the controlling FineTuneJob. A FineTuneJob deleted and created again under the
    same name leaves Jobs of the same name until garbage collection takes them; only those
    whose owner is this very FineTuneJob are its children."""
    role: str
    suspended: bool
    active: int
    succeeded: int
    failed: int
    finished: str | None
    """"Complete" or "Failed" once the Job controller has decided, else None."""
    finish_reason: str
    finish_message: str
    attempt: int | None = None
    """The training attempt this Job runs (annotation ``names.ATTEMPT_ANNOTATION``); None on
    Jobs without it (validation, or made by an operator before group restarts)."""
    deleting: bool = False
    """Its deletion has begun (deletionTimestamp set); deleted in the foreground, it stays
    until its pods are gone."""


def job_key(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, FineTuneJob name) of a child, from its labels; None if not one of ours."""
    metadata = body.get("metadata") or {}
    job = (metadata.get("labels") or {}).get(names.LABEL_JOB)
    namespace = metadata.get("namespace")
    return (namespace, job) if job and namespace else None


def controller_uid(metadata: Mapping[str, Any]) -> str:
    """UID of the object's controlling owner, or "" when it has none (orphaned)."""
    return next(
        (
            ref.get("uid") or ""
            for ref in metadata.get("ownerReferences") or []
            if ref.get("controller")
        ),
        "",
    )


def job_state(body: Mapping[str, Any]) -> JobState:
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    annotations = metadata.get("annotations") or {}
    attempt = str(annotations.get(names.ATTEMPT_ANNOTATION) or "")
    finished, reason, message = None, "", ""
    for condition in status.get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            finished = condition["type"]
            reason = condition.get("reason") or ""
            message = condition.get("message") or ""
    return JobState(
        name=metadata.get("name", ""),
        uid=metadata.get("uid") or "",
        owner_uid=controller_uid(metadata),
        role=(metadata.get("labels") or {}).get(names.LABEL_ROLE, ""),
        suspended=bool(spec.get("suspend")),
        active=int(status.get("active") or 0),
        succeeded=int(status.get("succeeded") or 0),
        failed=int(status.get("failed") or 0),
        finished=finished,
        finish_reason=reason,
        finish_message=message,
        attempt=int(attempt) if attempt.isdigit() else None,
        deleting=bool(metadata.get("deletionTimestamp")),
    )


def _trainer_container(status: Mapping[str, Any]) -> Mapping[str, Any]:
    return next(
        (c for c in status.get("containerStatuses") or [] if c.get("name") == names.CONTAINER_NAME),
        {},
    )


def _terminated(container: Mapping[str, Any]) -> Terminated | None:
    # restartPolicy is Never: the container runs once, so lastState stays empty.
    state = (container.get("state") or {}).get("terminated")
    if not state:
        return None
    return Terminated(
        exit_code=int(state.get("exitCode", -1)),
        summary=parse_summary(state.get("message")),
        container_reason=state.get("reason") or "",
        finished_at=state.get("finishedAt") or "",
    )


def _blocked(
    status: Mapping[str, Any], container: Mapping[str, Any], created: str
) -> Blocked | None:
    scheduled: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {}
    )
    since = scheduled.get("lastTransitionTime") or created
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return Blocked("Unschedulable", scheduled.get("message") or "", since)
    waiting = (container.get("state") or {}).get("waiting") or {}
    reason = BLOCKING_WAIT_REASONS.get(waiting.get("reason") or "")
    if reason is None:
        return None
    return Blocked(reason, waiting.get("message") or waiting["reason"], since)


def pod_state(body: Mapping[str, Any]) -> PodState:
    metadata = body.get("metadata") or {}
    status = body.get("status") or {}
    index = (metadata.get("annotations") or {}).get(names.COMPLETION_INDEX_ANNOTATION)
    created = metadata.get("creationTimestamp") or ""
    container = _trainer_container(status)
    return PodState(
        name=metadata.get("name", ""),
        role=(metadata.get("labels") or {}).get(names.LABEL_ROLE, ""),
        index=int(index) if index is not None and str(index).isdigit() else None,
        phase=status.get("phase") or "Pending",
        # The operator never creates hostNetwork pods: one that is (a pod made by hand with an
        # ownerReference to the training Job) has the node's IP, and polling it would reach
        # whatever listens on the node, so it gets no IP to poll.
        ip=None if (body.get("spec") or {}).get("hostNetwork") else status.get("podIP") or None,
        created=created,
        terminated=_terminated(container),
        blocked=_blocked(status, container, created),
        owner_uid=controller_uid(metadata),
        disrupted=any(
            c.get("type") == "DisruptionTarget" and c.get("status") == "True"
            for c in status.get("conditions") or []
        ),
        uid=metadata.get("uid") or "",
    )
