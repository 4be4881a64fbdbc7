"""Shared pieces of the operator's e2e tests: the CRD, the stand-in trainer image, the operator
as a real subprocess (so ``kill -9`` is real), FineTuneJob manifests and polling helpers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from devcluster.images import STANDIN_IMAGE_REFERENCE
from devcluster.kubeapi import KubeError
from devcluster.s3 import S3Endpoint
from devcluster.stack import Cluster
from tests.support.manifests import finetunejob

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "crds" / "finetunejob.yaml"
PEERING_CRDS = ROOT / "helm" / "finetune-operator" / "crds" / "kopfpeering.yaml"
PEERING_API = "/apis/kopf.dev/v1/clusterkopfpeerings"
FTJ_API = "/apis/finetune.dev/v1alpha1"
STANDIN_IMAGE = STANDIN_IMAGE_REFERENCE  # built from tests/e2e/standin/Dockerfile
BUCKET = "operator-e2e"


T = TypeVar("T")


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float = 90.0,
    interval: float = 0.5,
    context: Callable[[], str] | None = None,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` (and
    ``context()``, e.g. the object's status, to make the failure readable)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{context()}" if context else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def describe(cluster: Cluster, namespace: str, name: str) -> str:
    """The FineTuneJob's status and its pods' states, for failure messages."""
    try:
        status = get_ftj(cluster, namespace, name).get("status", {})
    except KubeError as error:
        status = {"error": str(error)}
    pods = cluster.api.get(
        f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"finetune.dev/job={name}"
    )["items"]
    states = {
        p["metadata"]["name"]: [
            c.get("state") for c in p.get("status", {}).get("containerStatuses", [])
        ]
        for p in pods
    }
    return json.dumps({"status": status, "pods": states}, indent=1)[:4000]


@pytest.fixture(scope="session")
def crd(cluster: Cluster) -> str:
    """The FineTuneJob CRD, applied from crds/ and Established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/finetunejobs.finetune.dev"
    )
    return "finetunejobs.finetune.dev"


@pytest.fixture(scope="session")
def peering_crds(cluster: Cluster) -> str:
    """Kopf's peering CRDs, applied from the chart and Established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(PEERING_CRDS))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/clusterkopfpeerings.kopf.dev",
        "crd/kopfpeerings.kopf.dev",
    )
    return "clusterkopfpeerings.kopf.dev"


@pytest.fixture
def peering(cluster: Cluster, namespace: str, peering_crds: str) -> Iterator[str]:
    """A ClusterKopfPeering for this test's operators (named after its namespace, as the
    chart's is after the release), deleted afterwards."""
    cluster.api.create(
        PEERING_API,
        {
            "apiVersion": "kopf.dev/v1",
            "kind": "ClusterKopfPeering",
            "metadata": {"name": namespace},
        },
    )
    yield namespace
    try:
        cluster.api.delete(f"{PEERING_API}/{namespace}")
    except KubeError as error:
        if error.status != 404:
            raise


def peers(cluster: Cluster, name: str) -> dict[str, Any]:
    """The live entries of a peering object: identity -> {priority, lifetime, lastseen}."""
    status: dict[str, Any] = cluster.api.get(f"{PEERING_API}/{name}").get("status") or {}
    return status


def ftj_path(namespace: str, name: str = "") -> str:
    path = f"{FTJ_API}/namespaces/{namespace}/finetunejobs"
    return f"{path}/{name}" if name else path


def manifest(name: str, **spec: Any) -> dict[str, Any]:
    """A valid FineTuneJob on the test bucket, in the request's namespace; ``spec`` entries
    replace the defaults here."""
    uris = {
        "baseModel": {"uri": f"s3://{BUCKET}/models/base/"},
        "dataset": {"train": f"s3://{BUCKET}/data/train.jsonl"},
        "output": {"uri": f"s3://{BUCKET}/out/{name}/"},
    }
    return finetunejob(name, namespace=None, **(uris | spec))


class Operator:
    """``python -m finetune_operator`` watching one namespace, as a subprocess."""

    def __init__(self, cluster: Cluster, namespace: str, log: Path, *extra: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.log = log
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            # This checkout's contract package too, not an installed copy of another one.
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT / "api"), str(ROOT / "operator"), str(ROOT / "trainer-image")]
            ),
        }
        argv = [
            sys.executable,
            "-m",
            "finetune_operator",
            "--namespace",
            self.namespace,
            "--trainer-image",
            STANDIN_IMAGE,
            "--allowed-image",
            STANDIN_IMAGE,
            "--default-s3-endpoint",
            self.cluster.s3.url,
            "--progress-interval",
            "2",
            "--metrics-port",
            "0",
            "--liveness-port",
            "0",
            *self.extra,
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def start_operator(
    cluster: Cluster, namespace: str, crd: str, tmp_path: Path
) -> Iterator[Callable[..., Operator]]:
    """Starts operators for this test's namespace (extra flags as arguments); stops them and
    clears leftover finalizers afterwards, so the namespace can be deleted."""
    started: list[Operator] = []

    def start(*extra: str) -> Operator:
        process = Operator(cluster, namespace, tmp_path / f"operator-{len(started)}.log", *extra)
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
    remove_finalizers(cluster, namespace)


@pytest.fixture
def operator(start_operator: Callable[..., Operator]) -> Operator:
    """A running operator for this test's namespace, with the e2e defaults."""
    return start_operator()


def remove_finalizers(cluster: Cluster, namespace: str) -> None:
    """Strip finalizers of leftover FineTuneJobs so the namespace can be deleted."""
    for item in cluster.api.get(ftj_path(namespace)).get("items", []):
        if item["metadata"].get("finalizers"):
            try:
                cluster.api.patch(
                    ftj_path(namespace, item["metadata"]["name"]),
                    {"metadata": {"finalizers": None}},
                    content_type="application/merge-patch+json",
                )
            except KubeError as error:
                if error.status != 404:
                    raise


def get_ftj(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = cluster.api.get(ftj_path(namespace, name))
    return body


def wait_for_step(
    cluster: Cluster, namespace: str, name: str, step: int, timeout: float = 90.0
) -> None:
    """Wait until the job's mirrored progress reaches ``step`` (its status may not exist yet)."""

    def reached() -> bool:
        status = get_ftj(cluster, namespace, name).get("status", {})
        return bool(status.get("progress", {}).get("step", 0) >= step)

    wait_for(f"training under way (step {step})", reached, timeout=timeout)


def exists(cluster: Cluster, path: str) -> bool:
    try:
        cluster.api.get(path)
    except KubeError as error:
        if error.status == 404:
            return False
        raise
    return True


CHILD_LABEL = "finetune.dev/job"


@pytest.fixture
def start_job(cluster: Cluster, namespace: str, s3: S3Endpoint) -> Any:
    """Upload a dataset (examples + an optional script line) and create a FineTuneJob."""
    client = s3.client()
    # SeaweedFS answers BucketAlreadyExists (not ...OwnedByYou) for a bucket its own admin made.
    with contextlib.suppress(
        client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists
    ):
        client.create_bucket(Bucket=BUCKET)
    cluster.api.create(
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "metadata": {"name": "s3-credentials"},
            "stringData": {
                "AWS_ACCESS_KEY_ID": s3.access_key,
                "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            },
        },
    )

    def start(
        name: str,
        script: dict[str, Any] | None = None,
        raw_lines: tuple[str, ...] = (),
        **spec: Any,
    ) -> str:
        lines = [json.dumps({"text": f"example {i}"}) for i in range(20)]
        if script is not None:
            lines.append(json.dumps({"standin": script}))
        key = f"data/{namespace}/{name}.jsonl"
        client.put_object(Bucket=BUCKET, Key=key, Body="\n".join([*lines, *raw_lines]).encode())
        spec.setdefault("storage", {"secretRef": {"name": "s3-credentials"}, "region": s3.region})
        spec.setdefault("output", {"uri": f"s3://{BUCKET}/out/{namespace}/{name}/"})
        body = manifest(name, dataset={"train": f"s3://{BUCKET}/{key}"}, **spec)
        cluster.api.create(ftj_path(namespace), body)
        return name

    return start


def wait_phase(
    cluster: Cluster, namespace: str, name: str, *phases: str, timeout: float = 90.0
) -> dict[str, Any]:
    """Wait until the job is in one of ``phases``; the failure shows its status and pods."""

    def probe() -> dict[str, Any] | None:
        body = get_ftj(cluster, namespace, name)
        return body if body.get("status", {}).get("phase") in phases else None

    return wait_for(
        f"{name} in {'/'.join(phases)}",
        probe,
        timeout,
        context=lambda: describe(cluster, namespace, name),
    )


def condition(body: dict[str, Any], type_: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in body["status"]["conditions"] if c["type"] == type_)
    return found


def children(cluster: Cluster, namespace: str, name: str, collection: str) -> list[Any]:
    base = "/apis/batch/v1" if collection == "jobs" else "/api/v1"
    items: list[Any] = cluster.api.get(
        f"{base}/namespaces/{namespace}/{collection}", labelSelector=f"{CHILD_LABEL}={name}"
    )["items"]
    return items
