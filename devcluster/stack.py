"""Bring the whole local environment up or down, and describe it to shells and tests.

Order: SeaweedFS S3, etcd, kube-apiserver, controller-manager, scheduler, node agent. ``up`` is
idempotent and returns what it started, so a pytest session can stop exactly that and leave a
`make cluster-up` environment running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from devcluster import controlplane, procs, s3
from devcluster.kubeapi import KubeApi
from devcluster.nodeagent.config import publish_image_entries
from devcluster.settings import ENV_PREFIX, Settings

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

NODEAGENT = "nodeagent"
ALL = (s3.NAME, *(c.name for c in controlplane.COMPONENTS), NODEAGENT)


def _nodeagent_argv() -> list[str]:
    return [sys.executable, "-m", "devcluster.nodeagent"]


def _nodes_ready(settings: Settings) -> bool:
    api = KubeApi(settings, timeout=5)
    ready = [
        node
        for node in api.get("/api/v1/nodes")["items"]
        for cond in node.get("status", {}).get("conditions") or []
        if cond["type"] == "Ready" and cond["status"] == "True"
    ]
    default_sa = api.get("/api/v1/namespaces/default/serviceaccounts")["items"]
    return len(ready) >= settings.nodes and bool(default_sa)


def up(settings: Settings) -> list[str]:
    """Start what is not running and wait until the cluster can run pods."""
    t0 = time.monotonic()
    started = []
    if s3.start(settings):  # it starts while the control plane does
        started.append(s3.NAME)
    bins = controlplane.bin_dir(settings)
    started += controlplane.up(settings, bins)
    s3.wait(settings)
    if not procs.running(settings, NODEAGENT):
        env = {
            **os.environ,
            "PYTHONPATH": str(settings.root),
            "KUBECONFIG": str(settings.kubeconfig),
        }
        procs.start(settings, NODEAGENT, _nodeagent_argv(), env)
        started.append(NODEAGENT)
    # An agent that already ran before this process set the variable still gets its entries.
    image_map = json.loads(os.environ.get(ENV_PREFIX + "IMAGE_MAP", "{}"))
    if image_map:
        publish_image_entries(settings, image_map)
    procs.wait_until("nodes Ready and default ServiceAccount", lambda: _nodes_ready(settings), 120)
    print(f"[cluster] up in {time.monotonic() - t0:.1f}s; started: {started or 'nothing'}",
          file=sys.stderr)  # fmt: skip
    return started


def down(settings: Settings, only: list[str] | None = None) -> list[str]:
    """Stop components in reverse start order (all known ones, or just ``only``)."""
    stopped = []
    for name in reversed(ALL):
        grace = s3.STOP_GRACE if name == s3.NAME else 15.0
        if (only is None or name in only) and procs.stop(settings, name, grace):
            stopped.append(name)
    return stopped


def status(settings: Settings) -> dict[str, int | None]:
    return {name: procs.running(settings, name) for name in ALL}


def env_lines(settings: Settings) -> str:
    """``export`` lines for a shell: kubeconfig, S3 credentials, PATH with kubectl and helm."""
    bins = controlplane.bin_dir(settings)
    values = {
        "KUBECONFIG": str(settings.kubeconfig),
        **s3.endpoint(settings).env(),
        "PATH": f"{bins}:{settings.venv_bin}:{os.environ.get('PATH', '')}",
    }
    return "".join(f"export {k}='{v}'\n" for k, v in values.items())


class Cluster:
    """Handle given to tests: paths, endpoints, a raw JSON client and namespace helpers."""

    def __init__(self, settings: Settings, s3_endpoint: s3.S3Endpoint) -> None:
        self.settings = settings
        self.kubeconfig = settings.kubeconfig
        self.s3 = s3_endpoint
        self.api = KubeApi(settings)
        """Plain REST calls (``get``, ``create``, ``patch``, ``delete``) returning dicts."""

    def api_client(self) -> ApiClient:
        """A ``kubernetes`` package client for the admin user."""
        from kubernetes import config  # noqa: PLC0415 (optional: only tests need the package)

        new_client: Any = config.new_client_from_config  # untyped in some client versions
        api_client: ApiClient = new_client(config_file=str(self.kubeconfig))
        return api_client

    def kubectl(self, *args: str) -> str:
        """Run the built kubectl against this cluster; returns stdout."""
        bins = controlplane.bin_dir(self.settings)
        out = subprocess.run(
            [str(bins / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return out.stdout

    def map_image(self, repository_suffix: str, entry_point: list[str]) -> None:
        """Run containers of images whose repository ends in ``repository_suffix`` (and that
        have no ``command``) as ``entry_point`` + args; applies to containers started later."""
        publish_image_entries(self.settings, {repository_suffix: entry_point})

    def create_namespace(self, name: str, labels: dict[str, str]) -> None:
        """Create ``name`` and wait for its default ServiceAccount (pods need it)."""
        self.api.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels}})
        procs.wait_until(
            f"ServiceAccount default in {name}",
            lambda: self.api.get(f"/api/v1/namespaces/{name}/serviceaccounts")["items"],
            30,
        )

    def delete_namespace(self, name: str) -> None:
        self.api.delete(f"/api/v1/namespaces/{name}", {"propagationPolicy": "Background"})
