"""Reducing child Job and Pod bodies to records."""

from __future__ import annotations

import json

import pytest

from finetune_api.reports import parse_summary
from finetune_operator.observed import Blocked, job_key, job_state, pod_state
from finetune_operator.reconcile import status_patch

LABELS = {"finetune.dev/job": "demo", "finetune.dev/role": "train"}


def test_job_state_reads_final_conditions() -> None:
    body = {
        "metadata": {"name": "demo-train", "namespace": "ns", "labels": LABELS},
        "spec": {"suspend": False},
        "status": {
            "active": 0,
            "failed": 1,
            "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "PodFailurePolicy"},
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "PodFailurePolicy",
                    "message": "Container trainer exited with 3",
                },
            ],
        },
    }
    state = job_state(body)
    assert (state.role, state.finished, state.finish_reason, state.failed) == (
        "train",
        "Failed",
        "PodFailurePolicy",
        1,
    )
    assert job_key(body) == ("ns", "demo")


def test_job_state_running() -> None:
    state = job_state({"metadata": {"labels": LABELS}, "spec": {"suspend": True}, "status": {}})
    assert (state.finished, state.suspended, state.active) == (None, True, 0)


def test_a_host_network_pod_has_no_ip_to_poll() -> None:
    body = {
        "metadata": {"name": "demo-train-0-abcde", "labels": LABELS},
        "spec": {"hostNetwork": True},
        "status": {"phase": "Running", "podIP": "192.168.1.20"},
    }
    assert pod_state(body).ip is None
    assert pod_state(body | {"spec": {"hostNetwork": False}}).ip == "192.168.1.20"


def test_pod_state_reads_index_ip_and_termination_message() -> None:
    message = json.dumps({"ok": False, "reason": "InvalidDataset", "message": "bad line 3"})
    body = {
        "metadata": {
            "name": "demo-train-0-abcde",
            "namespace": "ns",
            "labels": LABELS,
            "annotations": {"batch.kubernetes.io/job-completion-index": "0"},
            "creationTimestamp": "2026-11-28T10:00:00Z",
        },
        "status": {
            "phase": "Failed",
            "podIP": "10.0.0.7",
            "containerStatuses": [
                {"name": "trainer", "state": {"terminated": {"exitCode": 3, "message": message}}},
            ],
        },
    }
    state = pod_state(body)
    assert (state.index, state.ip, state.phase) == (0, "10.0.0.7", "Failed")
    assert state.terminated is not None
    assert (state.terminated.exit_code, state.terminated.reason, state.terminated.message) == (
        3,
        "InvalidDataset",
        "bad line 3",
    )


def pending_pod(status: dict[str, object]) -> dict[str, object]:
    return {
        "metadata": {
            "name": "demo-train-0-abcde",
            "labels": LABELS,
            "creationTimestamp": "2026-11-28T10:00:00Z",
        },
        "status": {"phase": "Pending", **status},
    }


SCHEDULED = {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-28T10:00:05Z"}


@pytest.mark.parametrize(
    ("waiting", "blocked"),
    [
        ("ErrImagePull", "ImagePullFailed"),
        ("ImagePullBackOff", "ImagePullFailed"),
        ("InvalidImageName", "ImagePullFailed"),
        ("ErrImageNeverPull", "ImagePullFailed"),
        ("CreateContainerConfigError", "ConfigError"),
        ("ContainerCreating", None),
        ("PodInitializing", None),
    ],
)
def test_container_waiting_reasons_that_block_a_pod(waiting: str, blocked: str | None) -> None:
    message = f"the kubelet says {waiting}"
    container = {"name": "trainer", "state": {"waiting": {"reason": waiting, "message": message}}}
    state = pod_state(pending_pod({"conditions": [SCHEDULED], "containerStatuses": [container]}))
    if blocked is None:
        assert state.blocked is None
    else:  # counted from scheduling: the kubelet could not have tried earlier
        assert state.blocked is not None
        assert state.blocked.reason == blocked
        assert (state.blocked.message, state.blocked.since) == (message, "2026-11-28T10:00:05Z")


def test_unschedulable_pod_is_blocked_since_the_scheduler_gave_up() -> None:
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastTransitionTime": "2026-11-28T10:00:01Z",
    }
    state = pod_state(pending_pod({"conditions": [condition]}))
    assert state.blocked == Blocked("Unschedulable", message, "2026-11-28T10:00:01Z")


def test_pod_without_conditions_counts_from_its_creation() -> None:
    container = {"name": "trainer", "state": {"waiting": {"reason": "ErrImagePull"}}}
    state = pod_state(pending_pod({"containerStatuses": [container]}))
    assert state.blocked == Blocked("ImagePullFailed", "ErrImagePull", "2026-11-28T10:00:00Z")


def test_oom_killed_container_is_recorded() -> None:
    terminated = {"exitCode": 137, "reason": "OOMKilled"}
    container = {"name": "trainer", "state": {"terminated": terminated}}
    state = pod_state(pending_pod({"phase": "Failed", "containerStatuses": [container]}))
    assert state.terminated is not None
    assert (state.terminated.exit_code, state.terminated.oom_killed) == (137, True)
    assert state.terminated.summary is None


@pytest.mark.parametrize("message", [None, "", "Traceback (most recent call last):", "[1, 2]"])
def test_non_json_termination_messages_are_ignored(message: str | None) -> None:
    assert parse_summary(message) is None


def test_status_patch_sets_changed_and_removes_missing() -> None:
    current = {"phase": "Running", "progress": {"step": 1}, "stale": 1}
    desired = {"phase": "Running", "progress": {"step": 2}}
    assert status_patch(current, desired) == {"progress": {"step": 2}, "stale": None}
    assert status_patch(desired, desired) == {}


def test_job_state_reads_attempt_and_deletion() -> None:
    state = job_state(
        {
            "metadata": {
                "labels": LABELS,
                "annotations": {"finetune.dev/attempt": "3"},
                "deletionTimestamp": "2026-11-28T10:00:00Z",
            },
            "status": {},
        }
    )
    assert (state.attempt, state.deleting) == (3, True)
    plain = job_state({"metadata": {"labels": LABELS, "annotations": {}}, "status": {}})
    assert (plain.attempt, plain.deleting) == (None, False)


def test_pod_state_reads_disruption_and_finish_time() -> None:
    state = pod_state(
        {
            "metadata": {"name": "demo-train-1-x", "labels": LABELS},
            "status": {
                "phase": "Failed",
                "conditions": [
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "EvictionByEvictionAPI",
                    }
                ],
                "containerStatuses": [
                    {
                        "name": "trainer",
                        "state": {
                            "terminated": {"exitCode": 143, "finishedAt": "2026-11-28T10:01:02Z"}
                        },
                    }
                ],
            },
        }
    )
    assert state.disrupted
    assert state.terminated is not None
    assert state.terminated.finished_at == "2026-11-28T10:01:02Z"
