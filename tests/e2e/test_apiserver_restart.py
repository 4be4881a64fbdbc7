"""The apiserver restarts while jobs run, and objects are deleted while it is down (straight
from etcd, as a deletion the operator's broken watch never reported). Kopf lists again without
sending DELETED for them; the operator's audit finds them gone: the deleted job's loop ends and
its training Job no longer holds the namespace's only concurrency slot, so the queued job runs."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

import pytest
from devcluster import controlplane, procs
from devcluster.stack import Cluster
from tests.e2e.operator_env import (
    children,
    crd,
    start_job,
    start_operator,
    wait_for,
    wait_phase,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
__all__ = ["crd", "start_job", "start_operator"]  # fixtures used by name


def delete_from_etcd(cluster: Cluster, key: str) -> None:
    """Delete one object behind the apiserver's back (etcd's JSON gateway)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{cluster.settings.etcd_port}/v3/kv/deleterange",
        data=json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.load(response)
    assert answer.get("deleted") == "1", f"{key}: {answer}"


def test_objects_deleted_while_the_apiserver_was_down_leave_nothing_stale(
    cluster: Cluster, namespace: str, start_operator: Any, start_job: Any
) -> None:
    operator = start_operator("--max-running-per-namespace", "1", "--audit-interval", "5")
    long = start_job("long", {"steps": 2000, "stepSeconds": 0.5})
    wait_phase(cluster, namespace, long, "Running", timeout=120)
    short = start_job("short", {"steps": 2, "stepSeconds": 0.2})
    queued = wait_phase(cluster, namespace, short, "Queued", timeout=60)
    admitted = next(c for c in queued["status"]["conditions"] if c["type"] == "Admitted")
    assert admitted["reason"] == "ConcurrencyLimit"
    (training,) = [
        job
        for job in children(cluster, namespace, long, "jobs")
        if job["metadata"]["labels"]["finetune.dev/role"] == "train"
    ]

    procs.stop(cluster.settings, "kube-apiserver")
    try:
        # The job and its training Job, deleted while no watch can see it.
        delete_from_etcd(cluster, f"/registry/finetune.dev/finetunejobs/{namespace}/{long}")
        delete_from_etcd(cluster, f"/registry/jobs/{namespace}/{training['metadata']['name']}")
    finally:
        controlplane.up(cluster.settings, controlplane.bin_dir(cluster.settings))

    # The slot is free again: the queued job trains and succeeds.
    done = wait_phase(cluster, namespace, short, "Succeeded", "Failed", timeout=180)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    log = operator.output()
    assert "deleted while a watch was broken" in log, log[-3000:]
    # The deleted job's loop ended (it would otherwise poll and retry for ever) ...
    ended = [line for line in log.splitlines() if "its children go by garbage collection" in line]
    assert any(f"{namespace}/{long}" in line for line in ended), log[-3000:]
    # ... and the garbage collector took what was left of it.
    wait_for(
        "the deleted job's pods gone",
        lambda: not children(cluster, namespace, long, "pods"),
        timeout=120,
    )
