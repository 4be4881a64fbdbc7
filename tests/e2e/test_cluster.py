"""The local cluster behaves like a real one where the product relies on it.

Versions and readiness (a kubelet on containerd, with GPU capacity), an Indexed Job under the
PodSecurity "restricted" profile whose pods use ConfigMap volumes, Secret env, S3, cluster DNS,
the ``kubernetes`` Service and termination messages, garbage collection through
ownerReferences, SIGTERM on pod deletion, ``kubectl logs``, what the kubelet enforces
(read-only root filesystem, runAsNonRoot), admission rejections, and S3 authentication.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from devcluster.images import BASE_IMAGE_REFERENCE, STANDIN_IMAGE_REFERENCE
from devcluster.kubeapi import KubeError
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
import json, os, socket, ssl, time, urllib.request
import boto3

index = os.environ["JOB_COMPLETION_INDEX"]
deadline = time.monotonic() + 30
while True:  # CoreDNS lists pod 0 once its address is known (publishNotReadyAddresses)
    try:
        peer = socket.gethostbyname(os.environ["PEER"])
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)
with open("/scratch/note", "w") as f:  # emptyDir: the root filesystem is read-only
    f.write(index)
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
api = urllib.request.Request(
    f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}/version",
    headers={"Authorization": "Bearer " + open(f"{sa}/token").read()},
)
context = ssl.create_default_context(cafile=f"{sa}/ca.crt")
with urllib.request.urlopen(api, context=context, timeout=10) as reply:
    api_version = json.load(reply)["gitVersion"]
report = {
    "index": index,
    "scratch": open("/scratch/note").read(),
    "config": open("/etc/demo/config.txt").read(),
    "greeting": os.environ["GREETING"],
    "hostname": socket.gethostname(),
    "podIP": os.environ["POD_IP"],
    "peer": peer,
    "apiVersion": api_version,
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
        "image": STANDIN_IMAGE_REFERENCE,  # Python with boto3
        "command": ["/opt/venv/bin/python", "/etc/demo/script.py"],
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
    assert nodes
    for node in nodes:
        assert node["status"]["allocatable"]["nvidia.com/gpu"] == "8"
        info = node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == "v1.36.3"
        assert info["containerRuntimeVersion"].startswith("containerd://2.")


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
    assert all(
        p["status"]["containerStatuses"][0]["containerID"].startswith("containerd://") for p in pods
    )
    for i, report in enumerate(reports):
        assert report["apiVersion"] == "v1.36.3"
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
        phase = cluster.api.get(f"{pods}/sleeper").get("status", {}).get("phase")
        return phase == "Running" and "ready" in cluster.kubectl("logs", "-n", namespace, "sleeper")

    wait_for("the pod to trap SIGTERM (kubectl logs)", log_says_ready)
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


def _run_to_end(cluster: Cluster, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
    """Create ``pod`` and return its status once it has ended or is stuck before starting."""
    path = f"/api/v1/namespaces/{namespace}/pods"
    cluster.api.create(path, pod)

    def settled() -> dict[str, Any] | None:
        status: dict[str, Any] = cluster.api.get(f"{path}/{pod['metadata']['name']}")["status"]
        state = (status.get("containerStatuses") or [{}])[0].get("state", {})
        waiting = state.get("waiting", {}).get("reason")
        ended = status.get("phase") in ("Succeeded", "Failed")
        return status if ended or waiting == "CreateContainerConfigError" else None

    result: dict[str, Any] = wait_for("the pod to end or be refused", settled, timeout=120)
    return result


@pytest.mark.namespace_labels(RESTRICTED)
def test_read_only_root_filesystem_is_enforced(cluster: Cluster, namespace: str) -> None:
    container = {
        "name": "writer",
        "image": STANDIN_IMAGE_REFERENCE,
        "command": ["/opt/venv/bin/python", "-c", "open('/written', 'w').write('x')"],
        "securityContext": CONTAINER_SECURITY,
    }
    pod = {
        "metadata": {"name": "writer"},
        "spec": {"securityContext": POD_SECURITY, "restartPolicy": "Never",
                 "containers": [container]},
    }  # fmt: skip
    status = _run_to_end(cluster, namespace, pod)
    assert status["phase"] == "Failed"
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] != 0
    assert "Read-only file system" in cluster.kubectl("logs", "-n", namespace, "writer")


def test_image_running_as_root_is_refused_under_run_as_non_root(
    cluster: Cluster, namespace: str
) -> None:
    """The base image has no USER: the kubelet refuses to start it under runAsNonRoot."""
    container = {
        "name": "root",
        "image": BASE_IMAGE_REFERENCE,
        "command": ["true"],
        "securityContext": {"runAsNonRoot": True},
    }
    pod = {"metadata": {"name": "root"}, "spec": {"restartPolicy": "Never",
                                                   "containers": [container]}}  # fmt: skip
    status = _run_to_end(cluster, namespace, pod)
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError"
    assert "runAsNonRoot and image will run as root" in waiting["message"]
