"""Deleting a FineTuneJob, or its namespace, never waits for an operator: FineTuneJobs carry no
finalizer, and the garbage collector (kube-controller-manager) removes the children through
their ownerReferences. A finalizer left by an older operator is removed by the new one."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from devcluster.kubeapi import KubeError
from devcluster.stack import Cluster
from tests.e2e.operator_env import (
    Operator,
    children,
    crd,
    exists,
    ftj_path,
    get_ftj,
    manifest,
    operator,
    start_job,
    start_operator,
    wait_for,
    wait_phase,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
__all__ = ["crd", "operator", "start_job", "start_operator"]  # fixtures used by name

OLD_FINALIZER = "finetune.dev/finalizer"
CHILDREN = ("jobs", "services", "configmaps", "pods")


def wait_children_gone(cluster: Cluster, namespace: str, name: str) -> None:
    for collection in CHILDREN:
        wait_for(
            f"no {collection} of {name} left (garbage collection)",
            lambda c=collection: not children(cluster, namespace, name, c),  # type: ignore[misc]
            timeout=120,
        )


def test_job_deleted_while_the_operator_is_down_goes_with_its_children(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    name = start_job("orphan", {"steps": 120, "stepSeconds": 0.5})
    running = wait_phase(cluster, namespace, name, "Running")
    assert not running["metadata"].get("finalizers"), running["metadata"]
    assert children(cluster, namespace, name, "pods")
    operator.kill9()

    cluster.api.delete(ftj_path(namespace, name))  # kubectl's default: background propagation
    wait_for(
        "the FineTuneJob gone without an operator",
        lambda: not exists(cluster, ftj_path(namespace, name)),
        timeout=30,
    )
    wait_children_gone(cluster, namespace, name)


def test_namespace_deleted_while_the_operator_is_down_goes(
    cluster: Cluster, crd: str, tmp_path: Path
) -> None:
    """The namespace controller deletes the FineTuneJob like any object; nothing holds it."""
    other = f"t-{uuid.uuid4().hex[:10]}"
    cluster.create_namespace(other, {})
    process = Operator(cluster, other, tmp_path / "operator.log")
    try:
        process.start()
        # A Secret that does not exist: the validation pod waits (CreateContainerConfigError),
        # which is enough to have children.
        body = manifest("doomed", storage={"secretRef": {"name": "absent"}})
        cluster.api.create(ftj_path(other), body)
        wait_for(
            "the validation Job created",
            lambda: children(cluster, other, "doomed", "jobs"),
            timeout=90,
            context=process.output,
        )
        assert not get_ftj(cluster, other, "doomed")["metadata"].get("finalizers")
        process.kill9()

        cluster.delete_namespace(other)
        wait_for(
            "the namespace gone without an operator",
            lambda: not exists(cluster, f"/api/v1/namespaces/{other}"),
            timeout=180,
        )
    finally:
        process.stop()
        try:
            cluster.delete_namespace(other)
        except KubeError as error:
            if error.status != 404:
                raise


def test_finalizer_of_an_older_operator_is_removed(
    cluster: Cluster, namespace: str, start_operator: Any, start_job: Any
) -> None:
    """Jobs created under an operator that added Kopf's finalizer: the new operator removes it
    the first time it sees them, so a later deletion never hangs."""
    name = start_job("legacy", {"steps": 2, "stepSeconds": 0.2})
    cluster.api.patch(
        ftj_path(namespace, name),
        {"metadata": {"finalizers": [OLD_FINALIZER]}},
        content_type="application/merge-patch+json",
    )
    process = start_operator()
    wait_for(
        "the old finalizer removed",
        lambda: not get_ftj(cluster, namespace, name)["metadata"].get("finalizers"),
        timeout=60,
        context=process.output,
    )
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed", timeout=120)
    assert done["status"]["phase"] == "Succeeded"
    process.kill9()
    cluster.api.delete(ftj_path(namespace, name))
    wait_for("the job gone", lambda: not exists(cluster, ftj_path(namespace, name)), timeout=30)
