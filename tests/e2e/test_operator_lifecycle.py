"""The operator end to end against the local cluster, with the scripted stand-in trainer's image
(tests/e2e/standin_trainer.py) in place of the real one: the happy path, failures, retries,
suspension, deletion, an operator killed with SIGKILL mid-run, and pods the kubelet cannot start
or kills (missing Secret, missing image, OOM)."""

from __future__ import annotations

import socket
import urllib.request
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
    wait_for_step,
    wait_phase,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
__all__ = ["crd", "operator", "start_job", "start_operator"]  # fixtures used by name


def test_validating_running_succeeded(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    name = start_job("happy", {"steps": 10, "stepSeconds": 1})
    seen = wait_phase(cluster, namespace, name, "Validating", "Running")
    running = wait_for(
        "Running with progress",
        lambda: (
            (b := get_ftj(cluster, namespace, name))["status"].get("phase") == "Running"
            and b["status"].get("progress", {}).get("step", 0) > 0
            and b
        ),
    )
    assert running["status"]["progress"]["totalSteps"] == 10
    assert running["status"]["metrics"]["trainLoss"] > 0
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed")
    status = done["status"]
    assert status["phase"] == "Succeeded", status
    assert seen["status"]["phase"] in ("Validating", "Running")
    assert status["dataset"]["trainExamples"] == 20
    assert status["metrics"]["evalLoss"] == 1.25
    assert status["output"]["manifest"].endswith("manifest.json")
    assert status["progress"]["percent"] == 100
    assert status["attempts"] == 1
    assert status["observedGeneration"] == done["metadata"]["generation"]
    assert {"startTime", "completionTime"} <= set(status)
    assert condition(done, "Succeeded")["status"] == "True"
    assert condition(done, "Validated")["status"] == "True"
    # No Kopf bookkeeping in metadata: no diff-base, our own finalizer only.
    annotations = done["metadata"].get("annotations") or {}
    assert not [k for k in annotations if "kopf" in k or "last-handled" in k]
    assert done["metadata"].get("finalizers", []) in ([], ["finetune.dev/finalizer"])
    # Children: deterministic names, owned by the job, own labels only.
    for collection, expected in (
        ("jobs", {"happy-validate", "happy-train"}),
        ("services", {"happy-train"}),
        ("configmaps", {"happy-config"}),
    ):
        items = children(cluster, namespace, name, collection)
        assert {i["metadata"]["name"] for i in items} == expected
        for item in items:
            assert item["metadata"]["ownerReferences"][0]["uid"] == done["metadata"]["uid"]
    # kubectl sees what users see.
    cluster.kubectl(
        "wait", "--for=condition=Succeeded", "--timeout=10s", "-n", namespace, f"ftj/{name}"
    )
    table = cluster.kubectl("get", "ftj", "-n", namespace)
    header, row = table.splitlines()[:2]
    assert header.split()[:6] == ["NAME", "PHASE", "PROGRESS", "TRAIN", "LOSS", "EVAL"]
    assert row.split()[:5] == [name, "Succeeded", "100", "0.2", "1.25"]
    events = cluster.api.get(
        f"/api/v1/namespaces/{namespace}/events", fieldSelector=f"involvedObject.name={name}"
    )["items"]
    assert {"Validating", "Running", "Succeeded"} <= {e["reason"] for e in events}


def test_invalid_dataset_fails_validation_and_never_trains(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    name = start_job("baddata", raw_lines=("this is not json",))
    done = wait_phase(cluster, namespace, name, "Failed", "Succeeded")
    failed = condition(done, "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "InvalidDataset")
    assert "not JSON" in failed["message"]
    assert condition(done, "Validated")["reason"] == "InvalidDataset"
    # kstatus (Flux) reports it Failed; Ready says why.
    assert condition(done, "Stalled")["status"] == "True"
    assert (condition(done, "Ready")["status"], condition(done, "Ready")["reason"]) == (
        "False",
        "InvalidDataset",
    )
    assert not exists(cluster, f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}-train")
    assert not exists(cluster, f"/api/v1/namespaces/{namespace}/services/{name}-train")


def test_exit_code_3_fails_at_once_without_retry(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    name = start_job("exit3", {"exit": 3}, runPolicy={"backoffLimit": 3})
    done = wait_phase(cluster, namespace, name, "Failed", "Succeeded")
    assert condition(done, "Failed")["reason"] == "InvalidCredentials"
    assert done["status"]["attempts"] == 1
    job = cluster.api.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}-train")
    assert job["status"].get("failed") == 1
    assert [c["reason"] for c in job["status"]["conditions"] if c["type"] == "Failed"] == [
        "PodFailurePolicy"
    ]


def test_crash_once_is_retried(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    name = start_job("crash", {"crashOnce": True})
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert (done["status"]["attempts"], done["status"]["failedAttempts"]) == (2, 1)


def test_suspend_and_resume(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    name = start_job("pause", {"steps": 40, "stepSeconds": 0.5})
    wait_phase(cluster, namespace, name, "Running")
    patch = "application/merge-patch+json"
    cluster.api.patch(
        ftj_path(namespace, name), {"spec": {"runPolicy": {"suspend": True}}}, content_type=patch
    )
    suspended = wait_phase(cluster, namespace, name, "Suspended")
    assert condition(suspended, "Suspended")["status"] == "True"
    job_path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}-train"
    assert cluster.api.get(job_path)["spec"]["suspend"] is True
    wait_for(
        "training pods gone",
        lambda: (
            not [
                p
                for p in children(cluster, namespace, name, "pods")
                if p["metadata"]["labels"].get("finetune.dev/role") == "train"
                and p["status"].get("phase") in ("Pending", "Running")
            ]
        ),
    )
    cluster.api.patch(
        ftj_path(namespace, name), {"spec": {"runPolicy": {"suspend": False}}}, content_type=patch
    )
    resumed = wait_phase(cluster, namespace, name, "Running")
    assert condition(resumed, "Suspended")["status"] == "False"
    assert cluster.api.get(job_path)["spec"]["suspend"] is False
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed", timeout=120)
    assert done["status"]["phase"] == "Succeeded"


def test_delete_mid_run_removes_every_child(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    name = start_job("gone", {"steps": 60, "stepSeconds": 0.5})
    wait_phase(cluster, namespace, name, "Running")
    cluster.api.delete(ftj_path(namespace, name), {"propagationPolicy": "Foreground"})
    wait_for(
        "the FineTuneJob deleted",
        lambda: not exists(cluster, ftj_path(namespace, name)),
        timeout=60,
    )
    for collection in ("jobs", "services", "configmaps", "pods"):
        wait_for(
            f"no {collection} left",
            lambda c=collection: (
                not children(  # type: ignore[misc]
                    cluster, namespace, name, c
                )
            ),
            timeout=60,
        )
    events = cluster.api.get(
        f"/api/v1/namespaces/{namespace}/events", fieldSelector=f"involvedObject.name={name}"
    )["items"]
    assert "Cancelled" in {e["reason"] for e in events}


def test_operator_killed_mid_run_still_finishes_once(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    name = start_job("phoenix", {"steps": 16, "stepSeconds": 0.5})
    wait_phase(cluster, namespace, name, "Running")
    wait_for_step(cluster, namespace, name, 2)
    before = children(cluster, namespace, name, "jobs")
    operator.kill9()
    operator.start()
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed", timeout=120)
    assert done["status"]["phase"] == "Succeeded"
    jobs = children(cluster, namespace, name, "jobs")
    assert sorted(j["metadata"]["name"] for j in jobs) == [f"{name}-train", f"{name}-validate"]
    assert {j["metadata"]["uid"] for j in jobs} == {j["metadata"]["uid"] for j in before}
    assert done["status"]["attempts"] == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_liveness_and_metrics_endpoints(
    cluster: Cluster, namespace: str, start_operator: Any, start_job: Any
) -> None:
    metrics_port, liveness_port = free_port(), free_port()
    start_operator("--metrics-port", str(metrics_port), "--liveness-port", str(liveness_port))
    name = start_job("watched", raw_lines=("not json",))
    wait_phase(cluster, namespace, name, "Failed")

    def scrape(port: int, path: str) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return str(r.read().decode())
        except OSError:
            return None

    assert wait_for("/healthz", lambda: scrape(liveness_port, "/healthz"), timeout=30)
    text = wait_for("/metrics", lambda: scrape(metrics_port, "/metrics"), timeout=30)
    assert f'finetune_jobs{{namespace="{namespace}",phase="Failed"}} 1.0' in text
    assert "finetune_reconcile_errors_total 0.0" in text
    assert "finetune_time_to_running_seconds_bucket" in text


def test_ttl_after_finished_deletes_the_job(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    name = start_job(
        "shortlived", raw_lines=("not json",), runPolicy={"ttlSecondsAfterFinished": 2}
    )
    wait_phase(cluster, namespace, name, "Failed")
    wait_for(
        "deleted after its TTL", lambda: not exists(cluster, ftj_path(namespace, name)), timeout=30
    )


def test_concurrency_limit_queues_the_second_job(
    cluster: Cluster, namespace: str, start_operator: Any, start_job: Any
) -> None:
    start_operator("--max-running-per-namespace", "1")
    first = start_job("first", {"steps": 12, "stepSeconds": 0.5})
    wait_phase(cluster, namespace, first, "Running")
    second = start_job("second", {"steps": 2})
    queued = wait_phase(cluster, namespace, second, "Queued")
    assert condition(queued, "Admitted")["reason"] == "ConcurrencyLimit"
    assert not exists(cluster, f"/apis/batch/v1/namespaces/{namespace}/jobs/second-train")
    wait_phase(cluster, namespace, first, "Succeeded", timeout=60)
    wait_phase(cluster, namespace, second, "Succeeded", timeout=60)


def test_missing_secret_is_reported_then_fails_the_job(
    cluster: Cluster, namespace: str, start_operator: Any, start_job: Any
) -> None:
    """The kubelet cannot start the validation pod; the job says why, then fails, bounded."""
    start_operator("--blocked-pod-timeout", "30")
    storage = {"secretRef": {"name": "no-such-secret"}}
    name = start_job("nosecret", storage=storage)

    def blocked() -> dict[str, Any] | None:
        body = get_ftj(cluster, namespace, name)
        validated = condition(body, "Validated") if body.get("status") else {}
        return body if validated.get("reason") == "ConfigError" else None

    body = wait_for("the ConfigError condition", blocked, timeout=60)
    assert "no-such-secret" in condition(body, "Validated")["message"]
    done = wait_phase(cluster, namespace, name, "Failed", "Succeeded", timeout=120)
    failed = condition(done, "Failed")
    assert failed["reason"] == "ConfigError"
    assert "no-such-secret" in failed["message"]


def test_missing_trainer_image_is_reported_then_fails_the_job(
    cluster: Cluster, namespace: str, start_operator: Any, start_job: Any
) -> None:
    missing = "localhost/no-such-trainer:0"
    start_operator("--blocked-pod-timeout", "30", "--allowed-image", missing)
    name = start_job("noimage", image=missing)
    done = wait_phase(cluster, namespace, name, "Failed", "Succeeded", timeout=150)
    failed = condition(done, "Failed")
    assert failed["reason"] == "ImagePullFailed"
    assert missing in failed["message"]


def test_trainer_over_its_memory_limit_fails_as_oom_killed(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    name = start_job(
        "oom",
        {"allocateMiB": 512, "steps": 4},
        resources={"memory": "256Mi"},
        runPolicy={"backoffLimit": 0},
    )
    done = wait_phase(cluster, namespace, name, "Failed", "Succeeded", timeout=150)
    failed = condition(done, "Failed")
    assert failed["reason"] == "OOMKilled", failed
    pods = cluster.api.get(
        f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"job-name={name}-train"
    )["items"]
    terminated = [p["status"]["containerStatuses"][0]["state"]["terminated"] for p in pods]
    assert [t["reason"] for t in terminated] == ["OOMKilled"]
