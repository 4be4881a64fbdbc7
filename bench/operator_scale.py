"""The operator at scale: N FineTuneJobs at once, against a bare loop making the same children.

`python -m bench.operator_scale` (about 10 minutes on 2 shared cores) against the running local
cluster. For each N (default 100, then 500), in a fresh namespace each:

- **baseline**: the N FineTuneJobs are created (8 client threads), then one plain loop creates
  each job's children as the operator's builders make them for a new job (the `<job>-config`
  ConfigMap and the `<job>-validate` Job), no operator running;
- **operator**: `python -m finetune_operator` watches the namespace; the N FineTuneJobs are
  created the same way, and the clock stops when every job has both children.

The pods need not run: every job has a `nodeSelector` no node matches, so its validation pod
stays Pending (`--blocked-pod-timeout` is a day, so no job fails meanwhile). Measured: seconds
from the first create to the last child; the operator's peak RSS (`VmHWM`); apiserver requests
per job, the delta of `apiserver_request_total` (the apiserver's `/metrics`) from the first
create until `--settle` seconds after the last child, less the benchmark's own requests. Both
modes include the controllers' traffic (the Job controller making the pods, the scheduler
failing them), so the difference is the operator's own.

The cluster is shared: the whole run holds the e2e lock (`/tmp/ftop-e2e.lock`), and each
namespace is deleted at the end of its round.
"""

from __future__ import annotations

import argparse
import fcntl
import http.client
import json
import os
import re
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.docs_section import replace_section
from devcluster import s3
from devcluster.kubeapi import KubeApi, KubeError
from devcluster.settings import Settings
from devcluster.stack import Cluster
from tests.e2e.operator_env import STANDIN_IMAGE, Operator, ftj_path, manifest

from finetune_api.jobspec import parse_job
from finetune_operator import builders
from finetune_operator.config import parse_config
from finetune_operator.reconcile import trainer_runtime

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "operator_scale.json"
E2E_LOCK = Path("/tmp/ftop-e2e.lock")
CREATE_THREADS = 8
NO_NODE = {"finetune.dev/bench": "no-such-node"}
BLOCKED_POD_TIMEOUT = "86400"
REQUEST_TOTAL = re.compile(r"^apiserver_request_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)


class CountingApi:
    """The bench's own client: counts its requests, which are taken off the apiserver's total."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self.requests = 0
        self._lock = threading.Lock()

    def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.requests += 1
        return method(*args, **kwargs)


def apiserver_requests(settings: Settings) -> float:
    """The sum of ``apiserver_request_total`` over every label set, from ``/metrics``."""
    pki = settings.pki
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    conn = http.client.HTTPSConnection("127.0.0.1", settings.api_port, context=context, timeout=30)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    return sum(float(value) for value in REQUEST_TOTAL.findall(text))


def count(client: CountingApi, path: str) -> int:
    """Objects in a collection, from a one-item page (``remainingItemCount``)."""
    page = client.call(client.api.get, path, limit="1")
    return len(page["items"]) + int(page["metadata"].get("remainingItemCount", 0))


def children_complete(client: CountingApi, namespace: str, jobs: int) -> bool:
    """Every job has its validation Job and ConfigMap (the namespace's own CA ConfigMap aside)."""
    validation = count(client, f"/apis/batch/v1/namespaces/{namespace}/jobs")
    configs = count(client, f"/api/v1/namespaces/{namespace}/configmaps") - 1
    return validation >= jobs and configs >= jobs


def create_jobs(client: CountingApi, namespace: str, jobs: int) -> list[dict[str, Any]]:
    """N FineTuneJobs whose pods cannot be scheduled, created by ``CREATE_THREADS`` threads."""

    def create(index: int) -> dict[str, Any]:
        body = manifest(
            f"scale-{index:04d}",
            resources={"nodeSelector": NO_NODE},
            # Required by the operator's default --require-secret-ref; no pod ever reads it.
            storage={"secretRef": {"name": "s3-credentials"}},
        )
        created: dict[str, Any] = client.call(client.api.create, ftj_path(namespace), body)
        return created

    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        return list(pool.map(create, range(jobs)))


@dataclass
class Round:
    mode: str
    jobs: int
    seconds_to_children: float
    apiserver_requests: float
    requests_per_job: float
    bench_requests: int
    operator_peak_rss_mib: float | None = None


@contextmanager
def namespace_for(cluster: Cluster, name: str) -> Iterator[str]:
    """A fresh namespace, deleted (and waited for, up to 5 minutes) afterwards."""
    cluster.create_namespace(name, {"finetune.dev/bench": "operator-scale"})
    try:
        yield name
    finally:
        cluster.delete_namespace(name)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                cluster.api.get(f"/api/v1/namespaces/{name}")
            except KubeError as err:
                if err.status == 404:
                    break
                raise
            time.sleep(2)


def wait_for_children(client: CountingApi, namespace: str, jobs: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not children_complete(client, namespace, jobs):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{namespace}: not every job had its children after {timeout} s")
        time.sleep(0.5)


def finish_round(  # noqa: PLR0917 (one call site per mode)
    mode: str,
    settings: Settings,
    client: CountingApi,
    jobs: int,
    started: float,
    done: float,
    before: float,
    settle: float,
) -> Round:
    time.sleep(settle)
    after = apiserver_requests(settings)
    # The two /metrics scrapes are requests too, besides the ones the client counted.
    own = client.requests + 2
    delta = after - before - own
    return Round(mode, jobs, round(done - started, 2), delta, round(delta / jobs, 1), own)


def baseline(cluster: Cluster, jobs: int, settle: float) -> Round:
    """Create the FineTuneJobs, then their children in one plain loop, without an operator."""
    client = CountingApi(KubeApi(cluster.settings))
    config = parse_config(
        ["--trainer-image", STANDIN_IMAGE, "--default-s3-endpoint", cluster.s3.url], {}
    )
    with namespace_for(cluster, f"bench-scale-base-{jobs}") as namespace:
        before = apiserver_requests(cluster.settings)
        started = time.monotonic()
        for created in create_jobs(client, namespace, jobs):
            job = parse_job(created)
            for child in (
                builders.build_config_map(job),
                builders.build_validate_job(job, trainer_runtime(config, job)),
            ):
                path = f"/{'api' if child['apiVersion'] == 'v1' else 'apis'}/{child['apiVersion']}"
                path += f"/namespaces/{namespace}/{child['kind'].lower()}s"
                client.call(client.api.create, path, child)
        wait_for_children(client, namespace, jobs, 60)
        done = time.monotonic()
        return finish_round(
            "baseline", cluster.settings, client, jobs, started, done, before, settle
        )


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def with_operator(cluster: Cluster, jobs: int, settle: float, timeout: float, log: Path) -> Round:
    """The operator makes the children of N FineTuneJobs created at once."""
    client = CountingApi(KubeApi(cluster.settings))
    with namespace_for(cluster, f"bench-scale-op-{jobs}") as namespace:
        operator = Operator(cluster, namespace, log, "--blocked-pod-timeout", BLOCKED_POD_TIMEOUT)
        operator.start()
        try:
            time.sleep(5)  # Kopf's start-up: its first list of an empty namespace
            assert operator.process is not None and operator.process.poll() is None
            before = apiserver_requests(cluster.settings)
            started = time.monotonic()
            create_jobs(client, namespace, jobs)
            wait_for_children(client, namespace, jobs, timeout)
            done = time.monotonic()
            result = finish_round(
                "operator", cluster.settings, client, jobs, started, done, before, settle
            )
            result.operator_peak_rss_mib = round(peak_rss_mib(operator.process.pid), 1)
            return result
        finally:
            operator.stop()


def table(rounds: list[Round]) -> list[str]:
    rows = [
        "| jobs | mode | s to all children | vs baseline | apiserver requests/job "
        "| operator peak RSS MiB |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    base = {r.jobs: r for r in rounds if r.mode == "baseline"}
    for r in rounds:
        ratio = r.seconds_to_children / base[r.jobs].seconds_to_children if r.jobs in base else 0
        rss = f"{r.operator_peak_rss_mib:,.0f}" if r.operator_peak_rss_mib else ""
        rows.append(
            f"| {r.jobs} | {r.mode} | {r.seconds_to_children:.1f} | {ratio:.2f} "
            f"| {r.requests_per_job:.1f} | {rss} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--settle", type=float, default=10.0, help="seconds counted after")
    parser.add_argument("--timeout", type=float, default=300.0, help="per operator round")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    settings = Settings.from_env()
    cluster = Cluster(settings, s3.endpoint(settings))
    rounds: list[Round] = []
    with open(E2E_LOCK, "w") as lock, tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        print("waiting for the e2e lock", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
        for jobs in args.jobs:
            for mode in ("baseline", "operator"):
                print(f"--- {jobs} jobs, {mode}", flush=True)
                if mode == "baseline":
                    result = baseline(cluster, jobs, args.settle)
                else:
                    log = Path(tmp) / f"operator-{jobs}.log"
                    result = with_operator(cluster, jobs, args.settle, args.timeout, log)
                print(json.dumps(asdict(result)), flush=True)
                rounds.append(result)
    command = " ".join(
        ["python -m bench.operator_scale", *(sys.argv[1:] if argv is None else argv)]
    )
    report = {
        "benchmark": "operator_scale",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": {"nproc": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
        "rounds": [asdict(r) for r in rounds],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    if not args.no_docs:
        about = (
            f"Run {report['date']} on {os.cpu_count()} shared CPUs against the local cluster "
            f"(`{command}`)."
        )
        replace_section("operator_scale", about, table(rounds))
    print("\n".join(table(rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
