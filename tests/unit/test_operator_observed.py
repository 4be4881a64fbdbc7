"""Reducing child Job and Pod bodies to records, and the trainer summaries to status fields."""

from __future__ import annotations

import json
import math

import pytest

from finetune_operator import progress
from finetune_operator.observed import job_key, job_state, parse_summary, pod_state
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


@pytest.mark.parametrize("message", [None, "", "Traceback (most recent call last):", "[1, 2]"])
def test_non_json_termination_messages_are_ignored(message: str | None) -> None:
    assert parse_summary(message) is None


def test_progress_fields_drop_non_finite_and_compute_percent() -> None:
    fields = progress.progress_fields(
        {
            "step": 5,
            "totalSteps": 20,
            "tokensPerSecond": math.nan,
            "epoch": 0.25,
            "stage": "training",
        }
    )
    assert fields == {
        "step": 5,
        "totalSteps": 20,
        "epoch": 0.25,
        "stage": "training",
        "percent": 25,
    }
    assert progress.metrics_from_progress({"loss": math.inf}) == {}


def test_output_files_as_count() -> None:
    assert progress.output_fields({"output": {"uri": "s3://b/o/", "files": 7}}) == {
        "uri": "s3://b/o/",
        "files": 7,
    }


def test_status_patch_sets_changed_and_removes_missing() -> None:
    current = {"phase": "Running", "progress": {"step": 1}, "stale": 1}
    desired = {"phase": "Running", "progress": {"step": 2}}
    assert status_patch(current, desired) == {"progress": {"step": 2}, "stale": None}
    assert status_patch(desired, desired) == {}
