"""The whole product path: the Helm chart installs the operator, which runs as a pod under the
chart's ServiceAccount and RBAC (not as admin), and FineTuneJobs run the REAL trainer against
SeaweedFS, on one node and on two nodes through the headless Service rendezvous.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devcluster import controlplane
from devcluster.stack import Cluster
from tests.e2e.operator_env import crd, ftj_path, get_ftj, remove_finalizers, wait_for
from tests.support.manifests import finetunejob
from tests.trainer.tiny import build_model, chat_examples, write_jsonl

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]
__all__ = ["crd"]  # fixture used by name

CHART = Path(__file__).resolve().parents[2] / "helm" / "finetune-operator"
TERMINAL = ("Succeeded", "Failed", "Cancelled")


@pytest.fixture(scope="module")
def workspace(cluster: Cluster, crd: str) -> Iterator[str]:
    """One namespace for this module's jobs, with the S3 credentials Secret."""
    name = f"t-full-{uuid.uuid4().hex[:6]}"
    cluster.create_namespace(name, {"pod-security.kubernetes.io/enforce": "restricted"})
    s3 = cluster.s3
    cluster.api.create(
        f"/api/v1/namespaces/{name}/secrets",
        {
            "metadata": {"name": "s3-credentials"},
            "stringData": {
                "AWS_ACCESS_KEY_ID": s3.access_key,
                "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            },
        },
    )
    yield name
    remove_finalizers(cluster, name)
    cluster.delete_namespace(name)


@pytest.fixture(scope="module")
def chart_operator(
    cluster: Cluster, workspace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`helm install` of the chart, watching ``workspace``; the kubelet runs its pod."""
    release_ns = f"{workspace}-op"
    helm = str(controlplane.bin_dir(cluster.settings) / "helm")
    argv = [
        helm,
        "install",
        "ft",
        str(CHART),
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--namespace",
        release_ns,
        "--create-namespace",
        "--set",
        f"watchNamespaces={{{workspace}}}",
        "--set",
        f"defaultS3Endpoint={cluster.s3.url}",
        "--set",
        "progressIntervalSeconds=2",
        "--set",
        "logLevel=debug",
    ]
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120)

    def operator_pod() -> dict[str, Any] | None:
        pods = cluster.api.get(f"/api/v1/namespaces/{release_ns}/pods")["items"]
        running = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
        return running[0] if running else None

    pod = wait_for("the chart's operator pod to run", operator_pod, timeout=120)
    # The proof that matters: the pod runs as the chart's ServiceAccount, whose token the kubelet
    # obtained through TokenRequest; nothing here hands it admin credentials.
    assert pod["spec"]["serviceAccountName"] == "ft-finetune-operator"
    yield release_ns
    subprocess.run(
        [
            helm,
            "uninstall",
            "ft",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--namespace",
            release_ns,
            "--wait",
        ],
        check=False,
        timeout=120,
    )
    cluster.delete_namespace(release_ns)


@pytest.fixture(scope="module")
def inputs(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The tiny model and a chat dataset in S3."""
    tmp = tmp_path_factory.mktemp("full-path")
    model = build_model(tmp / "model")
    client = cluster.s3.client()
    bucket = f"full-path-{uuid.uuid4().hex[:6]}"
    client.create_bucket(Bucket=bucket)
    wait_for("the bucket to take writes", lambda: _put_ok(client, bucket), timeout=60)
    for path in sorted(model.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"base/{path.relative_to(model).as_posix()}")
    for name, n, seed in (("train", 160, 1), ("eval", 24, 2)):
        local = write_jsonl(tmp / f"{name}.jsonl", chat_examples(n, seed))
        client.upload_file(str(local), bucket, f"data/{name}.jsonl")
    return {
        "bucket": bucket,
        "model": f"s3://{bucket}/base/",
        "train": f"s3://{bucket}/data/train.jsonl",
        "eval": f"s3://{bucket}/data/eval.jsonl",
    }


def _put_ok(client: Any, bucket: str) -> bool:
    try:
        client.put_object(Bucket=bucket, Key="ready", Body=b"")
    except Exception:  # SeaweedFS may not have a volume ready yet
        return False
    return True


def job_manifest(
    name: str, inputs: dict[str, str], num_nodes: int, epochs: int = 3
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "baseModel": {"uri": inputs["model"]},
        "dataset": {"train": inputs["train"], "eval": inputs["eval"], "format": "chat"},
        "method": {"type": "lora", "lora": {"r": 8, "alpha": 16, "dropout": 0.0}},
        "hyperparameters": {
            "epochs": epochs,
            "learningRate": 5.0e-3,
            "batchSize": 4,
            "maxSeqLength": 64,
            "warmupRatio": 0.0,
            "seed": 7,
        },
        "deepspeed": {"zeroStage": 2},
        "resources": {"numNodes": num_nodes, "gpusPerNode": 1},
        "storage": {"secretRef": {"name": "s3-credentials"}},
        "output": {"uri": f"s3://{inputs['bucket']}/out/{name}/"},
        "checkpointing": {"everySteps": 40, "keep": 1},
        "runPolicy": {"backoffLimit": 1, "activeDeadlineSeconds": 1200},
    }
    labels = {"argocd.argoproj.io/instance": "team-a"}
    return finetunejob(name, namespace=None, labels=labels, **spec)


def run_to_end(
    cluster: Cluster, namespace: str, name: str
) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    """Poll the job until it ends; returns its last body, the phases seen, progress snapshots."""
    phases: list[str] = []
    progress: list[dict[str, Any]] = []
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline:
        body = get_ftj(cluster, namespace, name)
        status = body.get("status") or {}
        phase = status.get("phase")
        if phase and (not phases or phases[-1] != phase):
            phases.append(phase)
        if phase == "Running" and status.get("progress"):
            progress.append(dict(status["progress"]))
        if phase in TERMINAL:
            return body, phases, progress
        time.sleep(1)
    pytest.fail(f"{name} did not finish; phases seen {phases}")


def assert_outputs_match_manifest(cluster: Cluster, output_uri: str) -> dict[str, Any]:
    client = cluster.s3.client()
    bucket, _, prefix = output_uri.removeprefix("s3://").partition("/")
    manifest: dict[str, Any] = json.loads(
        client.get_object(Bucket=bucket, Key=prefix + "manifest.json")["Body"].read()
    )
    assert manifest["files"], "the manifest lists no files"
    for entry in manifest["files"]:
        data = client.get_object(Bucket=bucket, Key=prefix + entry["path"])["Body"].read()
        assert len(data) == entry["size"], entry["path"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
    listed = {e["path"] for e in manifest["files"]}
    assert {"metrics.json", "loss.png", "README.md"} <= listed
    assert any(p.startswith("adapter/") for p in listed)
    return manifest


def test_chart_operator_runs_real_trainer(
    cluster: Cluster, chart_operator: str, workspace: str, inputs: dict[str, str]
) -> None:
    name = "full-1node"
    # Ten epochs (400 steps, about 15 s here) so that the operator's 2 s progress polls land
    # mid-run: three epochs took 4 s on a fast CI run and no poll saw a step between 0 and the end.
    cluster.api.create(ftj_path(workspace), job_manifest(name, inputs, num_nodes=1, epochs=10))
    body, phases, progress = run_to_end(cluster, workspace, name)
    status = body["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=2)
    assert phases[0] == "Validating", phases
    assert phases.index("Validating") < phases.index("Running") < phases.index("Succeeded")

    assert status["dataset"]["trainExamples"] == 160
    assert status["dataset"]["evalExamples"] == 24
    assert status["dataset"]["trainTokens"] > 0
    assert progress, "no progress reached status while the job ran"
    assert any(0 < p.get("step", 0) < p.get("totalSteps", 0) for p in progress), progress
    metrics = status["metrics"]
    assert metrics["evalLoss"] < metrics["baseEvalLoss"], metrics
    # Answer-level evaluation reaches status, rounded for people; every answer is published.
    for accuracy in ("answerAccuracy", "baseAnswerAccuracy"):
        assert 0 <= metrics[accuracy] <= 1 and len(repr(metrics[accuracy])) <= 6, metrics
    assert re.fullmatch(r"\d{1,3}% → \d{1,3}%", status["accuracy"]), status  # the column
    assert status["output"]["uri"].startswith(f"s3://{inputs['bucket']}/out/{name}/")
    manifest = assert_outputs_match_manifest(cluster, status["output"]["uri"])
    assert "eval/generations.jsonl" in {e["path"] for e in manifest["files"]}

    # Children carry their own labels, never the parent's GitOps tracking label.
    train = cluster.api.get(f"/apis/batch/v1/namespaces/{workspace}/jobs/{name}-train")
    assert "argocd.argoproj.io/instance" not in train["metadata"].get("labels", {})
    # The chart's default trainerNetworkPolicy: the operator made the job's policy, which the
    # apiserver accepted under the chart's RBAC (the local bridge CNI does not enforce it).
    policy = cluster.api.get(
        f"/apis/networking.k8s.io/v1/namespaces/{workspace}/networkpolicies/{name}-train"
    )
    operator_peer = policy["spec"]["ingress"][1]["from"][0]
    assert operator_peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": chart_operator
    }

    table = cluster.kubectl("get", "ftj", name, "-n", workspace)
    header, row = table.strip().splitlines()
    assert header.split()[:3] == ["NAME", "PHASE", "PROGRESS"], header
    assert "ACCURACY" in header, header
    assert "<none>" not in row and "Succeeded" in row, table
    assert status["accuracy"] in row, table  # "0% → 50%", not 0.5
    cluster.kubectl(
        "wait", "--for=condition=Succeeded", f"ftj/{name}", "-n", workspace, "--timeout=10s"
    )

    # Real containers of the image built from trainer-image/Dockerfile, logs through the kubelet.
    pods = cluster.api.get(
        f"/api/v1/namespaces/{workspace}/pods", labelSelector=f"job-name={name}-train"
    )["items"]
    assert pods
    for pod in pods:
        (container,) = pod["status"]["containerStatuses"]
        assert container["containerID"].startswith("containerd://"), container
        assert container["image"].endswith("finetune-trainer:0.1.0"), container
    log = cluster.kubectl("logs", "-n", workspace, pods[0]["metadata"]["name"])
    assert "batches per epoch" in log, log[-2000:]
    assert_secret_nowhere(cluster, [workspace, chart_operator], cluster.s3.secret_key)


def assert_secret_nowhere(cluster: Cluster, namespaces: list[str], secret: str) -> None:
    """The S3 secret key reached the pods only through the Secret: it is in no FineTuneJob
    (status included), Event, ConfigMap or container log (the operator's at debug level too)."""
    leaks = []
    for namespace in namespaces:
        for kind in ("finetunejobs.finetune.dev", "events", "configmaps"):
            if secret in cluster.kubectl("get", kind, "-n", namespace, "-o", "json"):
                leaks.append(f"{kind} in {namespace}")
        for pod in cluster.api.get(f"/api/v1/namespaces/{namespace}/pods")["items"]:
            for container in pod["spec"]["containers"]:
                log = cluster.kubectl(
                    "logs", "-n", namespace, pod["metadata"]["name"], "-c", container["name"]
                )
                if secret in log:
                    leaks.append(f"log of {pod['metadata']['name']}/{container['name']}")
    assert not leaks, f"the S3 secret key shows in: {leaks}"


def test_two_node_job_through_headless_service(
    cluster: Cluster, chart_operator: str, workspace: str, inputs: dict[str, str]
) -> None:
    name = "full-2node"
    cluster.api.create(ftj_path(workspace), job_manifest(name, inputs, num_nodes=2))
    body, _, _ = run_to_end(cluster, workspace, name)
    status = body["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=2)

    def train_pods() -> list[dict[str, Any]]:
        pods = cluster.api.get(f"/api/v1/namespaces/{workspace}/pods")["items"]
        return [
            p for p in pods if p["metadata"].get("labels", {}).get("job-name") == f"{name}-train"
        ]

    def succeeded_indexes() -> list[str]:
        return sorted(
            p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
            for p in train_pods()
            if p["status"].get("phase") == "Succeeded"
        )

    # The job is Succeeded once rank 0 has published; rank 1 may still be exiting.
    wait_for(
        "both ranks to succeed",
        lambda: succeeded_indexes() == ["0", "1"],
        timeout=120,
        context=lambda: json.dumps([p["status"] for p in train_pods()], indent=1)[-3000:],
    )
    messages = {}
    for pod in train_pods():
        for cs in pod["status"].get("containerStatuses", []):
            terminated = cs.get("state", {}).get("terminated") or {}
            if terminated.get("message"):
                index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
                messages[index] = json.loads(terminated["message"])
    assert messages["0"]["ok"] and messages["1"]["ok"], messages
    service = cluster.api.get(f"/api/v1/namespaces/{workspace}/services/{name}-train")
    assert service["spec"]["clusterIP"] == "None"
    assert_outputs_match_manifest(cluster, status["output"]["uri"])
