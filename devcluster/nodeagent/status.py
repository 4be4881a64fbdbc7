"""Pod status as the kubelet would report it, built from what the node agent observed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def now() -> str:
    """RFC 3339 with seconds, as Kubernetes' metav1.Time serialises."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerRecord:
    """What happened to one container so far (its process lives in the runner)."""

    name: str
    image: str
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    message: str = ""
    reason: str = ""
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    restart_count: int = 0
    last_terminated: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.started_at is not None and self.exit_code is None

    @property
    def terminated(self) -> bool:
        return self.exit_code is not None

    def terminated_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "exitCode": self.exit_code,
            "reason": self.reason or ("Completed" if self.exit_code == 0 else "Error"),
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "containerID": f"nodeagent://{self.name}",
        }
        if self.message:
            state["message"] = self.message
        return state

    def to_status(self) -> dict[str, Any]:
        if self.running:
            state: dict[str, Any] = {"running": {"startedAt": self.started_at}}
        elif self.terminated:
            state = {"terminated": self.terminated_state()}
        else:
            waiting = {"reason": self.waiting_reason}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            state = {"waiting": waiting}
        result: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": self.running,
            "started": self.running,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        if self.started_at:
            result["containerID"] = f"nodeagent://{self.name}"
        return result


def phase(records: Sequence[ContainerRecord], restart_policy: str, failed: bool) -> str:
    """Pending until every container started; terminal once none will run again."""
    if failed:
        return "Failed"
    if all(r.terminated for r in records):
        if all(r.exit_code == 0 for r in records):
            return "Succeeded" if restart_policy != "Always" else "Running"
        return "Failed" if restart_policy == "Never" else "Running"
    if any(r.started_at is None and r.restart_count == 0 for r in records):
        return "Pending"
    return "Running"


def _condition(kind: str, ok: bool, since: str, reason: str = "") -> dict[str, Any]:
    cond = {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": since}
    if reason:
        cond["reason"] = reason
    return cond


def pod_status(
    records: Sequence[ContainerRecord],
    restart_policy: str,
    *,
    pod_ip: str,
    host_ip: str,
    start_time: str,
    failed_message: str = "",
) -> dict[str, Any]:
    """The ``status`` stanza for a strategic-merge patch of pods/status."""
    ph = phase(records, restart_policy, bool(failed_message))
    ready = ph == "Running" and all(r.running for r in records)
    not_ready = (
        "" if ready else ("PodCompleted" if ph in ("Succeeded", "Failed") else "ContainersNotReady")
    )
    status: dict[str, Any] = {
        "phase": ph,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": start_time,
        "conditions": [
            _condition("PodScheduled", True, start_time),
            _condition("Initialized", True, start_time),
            _condition("PodReadyToStartContainers", True, start_time),
            _condition("ContainersReady", ready, start_time, not_ready),
            _condition("Ready", ready, start_time, not_ready),
        ],
        "containerStatuses": [r.to_status() for r in records],
    }
    if failed_message:
        status["reason"] = "NodeAgentError"
        status["message"] = failed_message
    return status
