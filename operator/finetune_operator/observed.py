"""What the operator sees of a job's children, reduced to small typed records.

The Kopf indexes store these records (not whole bodies), keyed by (namespace, FineTuneJob name);
the phase machine in ``decisions`` reads only these. Pure functions; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from finetune_operator import names


@dataclass(frozen=True)
class Terminated:
    """A finished trainer container: its exit code and the JSON summary it left (if any)."""

    exit_code: int
    summary: Mapping[str, Any] | None
    """The parsed termination message (docs/architecture.md), or None if absent or not JSON."""

    @property
    def reason(self) -> str | None:
        value = self.summary.get("reason") if self.summary else None
        return value if isinstance(value, str) else None

    @property
    def message(self) -> str | None:
        value = self.summary.get("message") if self.summary else None
        return value if isinstance(value, str) else None


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


@dataclass(frozen=True)
class JobState:
    name: str
    role: str
    suspended: bool
    active: int
    succeeded: int
    failed: int
    finished: str | None
    """"Complete" or "Failed" once the Job controller has decided, else None."""
    finish_reason: str
    finish_message: str


def job_key(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, FineTuneJob name) of a child, from its labels; None if not one of ours."""
    metadata = body.get("metadata") or {}
    job = (metadata.get("labels") or {}).get(names.LABEL_JOB)
    namespace = metadata.get("namespace")
    return (namespace, job) if job and namespace else None


def parse_summary(message: str | None) -> Mapping[str, Any] | None:
    """The trainer's termination message as a JSON object; None when it is anything else."""
    if not message:
        return None
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def job_state(body: Mapping[str, Any]) -> JobState:
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    finished, reason, message = None, "", ""
    for condition in status.get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            finished = condition["type"]
            reason = condition.get("reason") or ""
            message = condition.get("message") or ""
    return JobState(
        name=metadata.get("name", ""),
        role=(metadata.get("labels") or {}).get(names.LABEL_ROLE, ""),
        suspended=bool(spec.get("suspend")),
        active=int(status.get("active") or 0),
        succeeded=int(status.get("succeeded") or 0),
        failed=int(status.get("failed") or 0),
        finished=finished,
        finish_reason=reason,
        finish_message=message,
    )


def _terminated(status: Mapping[str, Any]) -> Terminated | None:
    for container in status.get("containerStatuses") or []:
        if container.get("name") != names.CONTAINER_NAME:
            continue
        state = (container.get("state") or {}).get("terminated")
        if state:
            return Terminated(
                exit_code=int(state.get("exitCode", -1)),
                summary=parse_summary(state.get("message")),
            )
    return None


def pod_state(body: Mapping[str, Any]) -> PodState:
    metadata = body.get("metadata") or {}
    status = body.get("status") or {}
    index = (metadata.get("annotations") or {}).get(names.COMPLETION_INDEX_ANNOTATION)
    return PodState(
        name=metadata.get("name", ""),
        role=(metadata.get("labels") or {}).get(names.LABEL_ROLE, ""),
        index=int(index) if index is not None and str(index).isdigit() else None,
        phase=status.get("phase") or "Pending",
        ip=status.get("podIP") or None,
        created=metadata.get("creationTimestamp") or "",
        terminated=_terminated(status),
    )
