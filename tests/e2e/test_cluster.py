"""The local control plane behaves like a real cluster where the product relies on it.

Covers the Foundation contract: versions and readiness, an Indexed Job under the PodSecurity
"restricted" profile whose pods use ConfigMap volumes, Secret env, S3 and termination messages,
garbage collection through ownerReferences, SIGTERM on pod deletion, admission rejections, and
S3 authentication.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from devcluster.kubeapi import KubeError
from devcluster.nodeagent.runner import LOG_ANNOTATION
from devcluster.s3 import S3Endpoint
from devcluster.stack import Cluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}

JOB_SCRIPT = """
import json, os, socket, time
import boto3

index = os.environ["JOB_COMPLETION_INDEX"]
deadline = time.monotonic() + 30
while True:  # pod 0 is listed in /etc/hosts as soon as the node agent admits it
    try:
        peer = socket.gethostbyname(os.environ["PEER"])
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)
with open("/scratch/note", "w") as f:  # emptyDir: the root filesystem is read-only
    f.write(index)
report = {
    "index": index,
    "scratch": open("/scratch/note").read(),
    "config": open("/etc/demo/config.txt").read(),
    "greeting": os.environ["GREETING"],
    "hostname": socket.gethostname(),
    "podIP": os.environ["POD_IP"],
    "peer": peer,
}
boto3.client("s3").put_object(
    Bucket=os.environ["BUCKET"], Key=f"{os.environ['NS']}/out-{index}.json",
    Body=json.dumps(report).encode(),
)
with open("/dev/termination-log", "w") as f:
    f.write(f"done {index}")
"""

SIGTERM_SCRIPT = """
import os, signal, sys, time
import boto3

s3 = boto3.client("s3")

def on_term(signum, frame):
    s3.put_object(Bucket=os.environ["BUCKET"], Key=f"{os.environ['NS']}/sigterm", Body=b"SIGTERM")
    sys.exit(0)

signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def bucket(s3: S3Endpoint) -> Iterator[str]:
    """A fresh bucket, deleted afterwards (each bucket holds a SeaweedFS volume)."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    client = s3.client()
    client.create_bucket(Bucket=name)
    yield name
    for obj in client.list_objects_v2(Bucket=name).get("Contents", []):
        client.delete_object(Bucket=name, Key=obj["Key"])
    client.delete_bucket(Bucket=name)


def _setup(cluster: Cluster, ns: str, bucket: str, script: str) -> None:
    """Secret with S3 credentials + a greeting, ConfigMap with the script, config and bucket."""
    api = cluster.api
    creds = {**cluster.s3.env(), "GREETING": "hello from a secret"}
    api.create(
        f"/api/v1/namespaces/{ns}/secrets",
        {"metadata": {"name": "s3-credentials"}, "stringData": creds},
    )
    api.create(
        f"/api/v1/namespaces/{ns}/configmaps",
        {
            "metadata": {"name": "demo"},
            "data": {"script.py": script, "config.txt": "learning-rate=2e-4", "bucket": bucket},
        },
    )


def _container(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": "docker.io/library/python:3.11-slim",
        "command": ["python", "/etc/demo/script.py"],
        "securityContext": CONTAINER_SECURITY,
        "envFrom": [{"secretRef": {"name": "s3-credentials"}}],
        "env": [
            {
                "name": "GREETING",
                "valueFrom": {"secretKeyRef": {"name": "s3-credentials", "key": "GREETING"}},
            },
            {"name": "BUCKET", "valueFrom": {"configMapKeyRef": {"name": "demo", "key": "bucket"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        "volumeMounts": [
            {"name": "demo", "mountPath": "/etc/demo", "readOnly": True},
            {"name": "scratch", "mountPath": "/scratch"},
        ],
    }


def _pod_spec(name: str) -> dict[str, Any]:
    return {
        "securityContext": POD_SECURITY,
        "containers": [_container(name)],
        "volumes": [
            {"name": "demo", "configMap": {"name": "demo"}},
            {"name": "scratch", "emptyDir": {}},
        ],
    }


def _pods(cluster: Cluster, ns: str, selector: str) -> list[dict[str, Any]]:
    items = cluster.api.get(f"/api/v1/namespaces/{ns}/pods", labelSelector=selector)["items"]
    return list(items)


def test_versions_and_readiness(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json"))
    assert version["serverVersion"]["gitVersion"] == "v1.36.3"
    assert cluster.kubectl("get", "--raw", "/readyz").strip() == "ok"
    nodes = cluster.api.get("/api/v1/nodes")["items"]
    assert all(n["status"]["allocatable"]["nvidia.com/gpu"] == "8" for n in nodes)


def test_wrong_s3_secret_is_refused(s3: S3Endpoint) -> None:
    with pytest.raises(ClientError) as refused:
        s3.client(aws_secret_access_key="not-the-secret").list_buckets()
    assert refused.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied")


@pytest.mark.namespace_labels(RESTRICTED)
def test_indexed_job_runs_restricted_pods_and_is_collected(
    cluster: Cluster, s3: S3Endpoint, namespace: str, bucket: str
) -> None:
    _setup(cluster, namespace, bucket, JOB_SCRIPT)
    api = cluster.api
    api.create(
        f"/api/v1/namespaces/{namespace}/services",
        {
            "metadata": {"name": "workers"},
            "spec": {"clusterIP": "None", "selector": {"job-name": "work"}},
        },
    )
    spec = _pod_spec("worker")
    spec.update(restartPolicy="Never", subdomain="workers")
    spec["containers"][0]["env"].append({"name": "PEER", "value": "work-0.workers"})
    job = {
        "metadata": {"name": "work"},
        "spec": {
            "completionMode": "Indexed",
            "completions": 2,
            "parallelism": 2,
            "backoffLimit": 0,
            "template": {"spec": spec},
        },
    }
    jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    api.create(jobs, job)

    def complete() -> bool:
        status = api.get(f"{jobs}/work").get("status", {})
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        assert conditions.get("Failed") != "True", status
        return conditions.get("Complete") == "True"

    wait_for("Job Complete", complete)

    pods = _pods(cluster, namespace, "job-name=work")
    messages = sorted(
        p["status"]["containerStatuses"][0]["state"]["terminated"]["message"] for p in pods
    )
    assert messages == ["done 0", "done 1"]
    reports = [
        json.loads(
            s3.client().get_object(Bucket=bucket, Key=f"{namespace}/out-{i}.json")["Body"].read()
        )
        for i in (0, 1)
    ]
    pod0_ip = next(p["status"]["podIP"] for p in pods if p["spec"]["hostname"] == "work-0")
    for i, report in enumerate(reports):
        assert report["config"] == "learning-rate=2e-4"
        assert report["scratch"] == str(i)
        assert report["greeting"] == "hello from a secret"
        assert report["hostname"] == f"work-{i}"
        assert report["peer"] == pod0_ip
    assert len({p["status"]["podIP"] for p in pods}) == 2

    api.delete(f"{jobs}/work", {"propagationPolicy": "Background"})
    wait_for("pods garbage-collected", lambda: not _pods(cluster, namespace, "job-name=work"))


@pytest.mark.namespace_labels(RESTRICTED)
def test_deleting_a_running_pod_sends_sigterm(
    cluster: Cluster, s3: S3Endpoint, namespace: str, bucket: str
) -> None:
    _setup(cluster, namespace, bucket, SIGTERM_SCRIPT)
    pods = f"/api/v1/namespaces/{namespace}/pods"
    spec = {**_pod_spec("sleeper"), "terminationGracePeriodSeconds": 20}
    cluster.api.create(pods, {"metadata": {"name": "sleeper"}, "spec": spec})

    def log_says_ready() -> bool:
        pod = cluster.api.get(f"{pods}/sleeper")
        log = pod["metadata"].get("annotations", {}).get(LOG_ANNOTATION)
        return bool(log) and Path(log).exists() and "ready" in Path(log).read_text()

    wait_for("the pod to trap SIGTERM", log_says_ready)
    cluster.api.delete(f"{pods}/sleeper")

    def gone() -> bool:
        try:
            cluster.api.get(f"{pods}/sleeper")
        except KubeError as exc:
            return exc.status == 404
        return False

    wait_for("the pod to be removed", gone, timeout=60)
    marker = s3.client().get_object(Bucket=bucket, Key=f"{namespace}/sigterm")["Body"].read()
    assert marker == b"SIGTERM"


@pytest.mark.namespace_labels(RESTRICTED)
def test_privileged_pod_is_rejected_by_pod_security(cluster: Cluster, namespace: str) -> None:
    pod = {
        "metadata": {"name": "privileged"},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "securityContext": {"privileged": True}}
            ]
        },
    }
    with pytest.raises(KubeError) as rejected:
        cluster.api.create(f"/api/v1/namespaces/{namespace}/pods", pod)
    assert rejected.value.status == 403
    assert "violates PodSecurity" in str(rejected.value)
