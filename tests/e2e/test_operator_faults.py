"""Fault injection against the local cluster: a FineTuneJob re-created under the same name while
its predecessor's children remain, children the apiserver rejects, and a trainer that hangs.
Each ends cleanly: no adopted result, a Failed job naming the cause, no compute left running."""

from __future__ import annotations

from typing import Any

import pytest
from devcluster.stack import Cluster
from tests.e2e.operator_env import (
    Operator,
    children,
    condition,
    crd,
    exists,
    ftj_path,
    get_ftj,
    operator,
    start_job,
    start_operator,
    wait_for,
    wait_phase,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
__all__ = ["crd", "operator", "start_job", "start_operator"]  # fixtures used by name


def _delete_children(cluster: Cluster, namespace: str, name: str) -> None:
    """Play the garbage collector for children whose owner is gone."""
    for collection, base in (
        ("configmaps", "/api/v1"),
        ("services", "/api/v1"),
        ("jobs", "/apis/batch/v1"),
    ):
        for item in children(cluster, namespace, name, collection):
            cluster.api.delete(
                f"{base}/namespaces/{namespace}/{collection}/{item['metadata']['name']}",
                {"propagationPolicy": "Background"},
            )


def test_recreated_job_never_adopts_its_predecessors_children(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    """Deleted with its children orphaned (as after ``kubectl replace --force`` before garbage
    collection ran), then created again with the same name: the new job neither takes the old
    Succeeded result nor reuses the old ConfigMap; it waits, then runs and ends on its own."""
    name = start_job("same", {"steps": 2, "stepSeconds": 0.2})
    first = wait_phase(cluster, namespace, name, "Succeeded", "Failed", timeout=120)
    assert first["status"]["phase"] == "Succeeded"
    cluster.api.delete(ftj_path(namespace, name), {"propagationPolicy": "Orphan"})
    wait_for("the first job deleted", lambda: not exists(cluster, ftj_path(namespace, name)))
    wait_for(
        "its Jobs orphaned",
        lambda: all(
            not j["metadata"].get("ownerReferences")
            for j in children(cluster, namespace, name, "jobs")
        ),
    )
    assert len(children(cluster, namespace, name, "jobs")) == 2

    start_job(name, {"exit": 3})  # the new job's own result differs: a permanent failure
    waiting = wait_for(
        "the new job waiting for the old children",
        lambda: (
            (b := get_ftj(cluster, namespace, name)).get("status", {}).get("conditions")
            and condition(b, "Validated")["reason"] == "WaitingForOldChildren"
            and b
        ),
    )
    assert waiting["status"]["phase"] == "Validating"
    new_uid = waiting["metadata"]["uid"]

    _delete_children(cluster, namespace, name)
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed", timeout=150)
    assert done["status"]["phase"] == "Failed", done["status"]
    assert condition(done, "Failed")["reason"] == "InvalidCredentials"
    owners = {
        ref["uid"]
        for j in children(cluster, namespace, name, "jobs")
        for ref in j["metadata"].get("ownerReferences", [])
    }
    assert owners == {new_uid}


def test_child_the_apiserver_forbids_fails_the_job_at_once(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    """A quota that allows no Jobs: the apiserver answers 403 to the validation Job; the job
    fails in one pass with the apiserver's words instead of retrying every 10 s."""
    cluster.api.create(
        f"/api/v1/namespaces/{namespace}/resourcequotas",
        {"metadata": {"name": "no-jobs"}, "spec": {"hard": {"count/jobs.batch": "0"}}},
    )
    name = start_job("refused")
    done = wait_phase(cluster, namespace, name, "Failed", timeout=60)
    failed = condition(done, "Failed")
    assert failed["reason"] == "ChildRejected"
    assert "exceeded quota" in failed["message"]
    assert not children(cluster, namespace, name, "jobs")


def test_hung_trainer_fails_as_stalled_and_its_pods_are_stopped(
    cluster: Cluster, namespace: str, start_operator: Any, start_job: Any
) -> None:
    """The stand-in sleeps in its first step (as a trainer on a dead node or in a hung
    collective would): its step never advances, so after --stall-timeout the job fails as
    Stalled and its training Job is deleted, freeing the GPUs."""
    start_operator("--stall-timeout", "15")
    name = start_job("hung", {"steps": 3, "stepSeconds": 600})
    wait_phase(cluster, namespace, name, "Running")
    done = wait_phase(cluster, namespace, name, "Failed", "Succeeded", timeout=90)
    failed = condition(done, "Failed")
    assert failed["reason"] == "Stalled", done["status"]
    assert "has not advanced" in failed["message"]
    wait_for(
        "the training Job deleted",
        lambda: (
            not any(
                j["metadata"]["labels"].get("finetune.dev/role") == "train"
                for j in children(cluster, namespace, name, "jobs")
            )
        ),
        timeout=60,
    )
