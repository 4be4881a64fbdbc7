"""Fault injection against the local cluster: a FineTuneJob re-created under the same name while
its predecessor's children remain, children the apiserver rejects, a trainer that hangs, and
one rank of a two-node job failing or being evicted. Each ends cleanly: no adopted result, a
Failed job naming the cause, no compute left running, a multi-node job restarted as a group."""

from __future__ import annotations

import json
from typing import Any

import pytest
from devcluster.s3 import S3Endpoint
from devcluster.stack import Cluster
from tests.e2e.operator_env import (
    BUCKET,
    Operator,
    children,
    condition,
    crd,
    describe,
    exists,
    ftj_path,
    get_ftj,
    operator,
    start_job,
    start_operator,
    wait_for,
    wait_for_step,
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


TWO_NODES = {"numNodes": 2, "gpusPerNode": 1}


def _starts(s3: S3Endpoint, namespace: str, name: str) -> dict[int, list[int]]:
    """Per rank, the step each start of its pod resumed from (the stand-in's start markers)."""
    prefix = f"out/{namespace}/{name}/standin/starts/"
    listing = s3.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    starts: dict[int, list[int]] = {}
    for item in sorted(listing.get("Contents", []), key=lambda i: i["Key"]):
        rank = int(item["Key"].removeprefix(prefix).split("/")[0].removeprefix("rank-"))
        body = s3.client().get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        starts.setdefault(rank, []).append(json.loads(body)["resumedFrom"])
    return starts


def _train_job(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    return next(
        (
            j
            for j in children(cluster, namespace, name, "jobs")
            if j["metadata"]["labels"].get("finetune.dev/role") == "train"
        ),
        None,
    )


def test_a_failed_rank_restarts_the_whole_group_from_the_checkpoint(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any, s3: S3Endpoint
) -> None:
    """Rank 1 of two fails mid-run (exit 1, after rank 0's first checkpoint): the training Job
    fails at once (podFailurePolicy FailJob), rank 0 is stopped with it, and the operator
    starts attempt 2, a new Job under the same name, where both ranks start again and resume
    from the checkpoint; the job succeeds with one failed attempt counted."""
    name = start_job(
        "group",
        {"steps": 20, "stepSeconds": 0.5, "resume": True, "failRankOnce": 1},
        resources=TWO_NODES,
        runPolicy={"backoffLimit": 1},
    )
    first = wait_for("the first training Job", lambda: _train_job(cluster, namespace, name))
    assert first["metadata"]["annotations"]["finetune.dev/attempt"] == "1"
    restarting = wait_for(
        "the failure recorded",
        lambda: (b := get_ftj(cluster, namespace, name))["status"].get("failedAttempts") == 1 and b,
        timeout=120,
    )
    assert restarting["status"]["attempts"] == 2
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed", timeout=180)
    status = done["status"]
    assert status["phase"] == "Succeeded", status
    assert (status["attempts"], status["failedAttempts"]) == (2, 1)
    second = _train_job(cluster, namespace, name)
    assert second is not None
    assert second["metadata"]["name"] == f"{name}-train"
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert second["metadata"]["annotations"]["finetune.dev/attempt"] == "2"
    # Every rank started twice: the whole group restarted, rank 0 from its checkpoint.
    starts = _starts(s3, namespace, name)
    assert sorted(starts) == [0, 1], starts
    assert len(starts[0]) == 2 and len(starts[1]) == 2, starts
    assert starts[0][0] == 0 and starts[0][1] >= 2, starts
    events = cluster.api.get(
        f"/api/v1/namespaces/{namespace}/events", fieldSelector=f"involvedObject.name={name}"
    )["items"]
    restarts = [e for e in events if e["reason"] == "Restarting"]
    assert restarts and "attempt 1 ended" in restarts[0]["message"], restarts


def test_a_rank_failing_after_rank_0_published_leaves_the_job_succeeded(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    """Rank 0 publishes and exits 0, then rank 1 fails: the training Job ends Failed, but the
    output is complete, so the FineTuneJob is Succeeded, with no second attempt."""
    name = start_job(
        "late",
        {"steps": 4, "stepSeconds": 0.5, "failRankAfterPublish": 1},
        resources=TWO_NODES,
    )
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed", timeout=150)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert done["status"]["output"]["manifest"].endswith("manifest.json")

    def train_job_failed() -> dict[str, Any] | None:
        job = _train_job(cluster, namespace, name)
        failed = [
            c
            for c in (job or {}).get("status", {}).get("conditions", [])
            if c["type"] == "Failed" and c["status"] == "True"
        ]
        return job if failed else None

    job = wait_for("rank 1 to fail the training Job", train_job_failed, timeout=60)
    assert "matching FailJob rule" in next(
        c["message"] for c in job["status"]["conditions"] if c["type"] == "Failed"
    )
    after = get_ftj(cluster, namespace, name)
    assert after["status"]["phase"] == "Succeeded"
    assert after["status"]["attempts"] == 1
    assert not after["status"].get("failedAttempts")


def test_a_rank_hanging_after_rank_0_published_is_stopped(
    cluster: Cluster, namespace: str, start_operator: Any, start_job: Any
) -> None:
    """Rank 0 publishes and exits 0, rank 1 hangs: the job is Succeeded at once, and after
    --leftover-ranks-grace the training Job is suspended, which stops rank 1's pod while rank
    0's finished pod (and its log) stays."""
    start_operator("--leftover-ranks-grace", "5")
    name = start_job(
        "hang", {"steps": 4, "stepSeconds": 0.5, "hangRankAfterPublish": 1}, resources=TWO_NODES
    )
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed", timeout=150)
    assert done["status"]["phase"] == "Succeeded", done["status"]

    def pods() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = cluster.api.get(
            f"/api/v1/namespaces/{namespace}/pods",
            labelSelector=f"finetune.dev/job={name},finetune.dev/role=train",
        )["items"]
        return items

    def only_rank_0_left() -> list[dict[str, Any]] | None:
        job = _train_job(cluster, namespace, name) or {}
        left = pods()
        phases = sorted(p["status"].get("phase", "") for p in left)
        return left if job.get("spec", {}).get("suspend") and phases == ["Succeeded"] else None

    left = wait_for(
        "the hung rank's pod to be stopped",
        only_rank_0_left,
        timeout=90,
        context=lambda: describe(cluster, namespace, name),
    )
    assert left[0]["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "0"
    assert get_ftj(cluster, namespace, name)["status"]["phase"] == "Succeeded"


def test_an_evicted_rank_restarts_the_group_without_counting(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any, s3: S3Endpoint
) -> None:
    """Rank 1 evicted through the Eviction API mid-run (as a drain or preemption would): its
    pod gets condition DisruptionTarget, the group restarts as attempt 2, and the disruption
    is not counted: with runPolicy.backoffLimit 0 the job still succeeds."""
    name = start_job(
        "evicted",
        {"steps": 16, "stepSeconds": 0.5, "resume": True},
        resources=TWO_NODES,
        runPolicy={"backoffLimit": 0},
    )
    wait_for_step(cluster, namespace, name, 3, timeout=120)
    rank1 = next(
        p
        for p in children(cluster, namespace, name, "pods")
        if p["metadata"]["labels"].get("finetune.dev/role") == "train"
        and p["metadata"]["annotations"].get("batch.kubernetes.io/job-completion-index") == "1"
        and p["status"].get("phase") == "Running"
    )
    pod_name = rank1["metadata"]["name"]
    cluster.api.create(
        f"/api/v1/namespaces/{namespace}/pods/{pod_name}/eviction",
        {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod_name, "namespace": namespace},
        },
    )
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed", timeout=180)
    status = done["status"]
    assert status["phase"] == "Succeeded", status
    assert status["attempts"] == 2
    assert not status.get("failedAttempts")
    starts = _starts(s3, namespace, name)
    assert len(starts.get(0, [])) == 2 and starts[0][1] >= 2, starts
