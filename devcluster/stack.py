"""Bring the whole local environment up or down, and describe it to shells and tests.

Order: SeaweedFS S3, etcd, kube-apiserver, controller-manager, scheduler, then the node
(containerd, BuildKit and the image builds, kubelet, kube-proxy, CoreDNS). ``up`` is idempotent
and returns what it started, so a pytest session can stop exactly that and leave a
`make cluster-up` environment running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from devcluster import controlplane, node, ports, procs, s3
from devcluster.kubeapi import KubeApi
from devcluster.settings import Settings

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

CONTROL_PLANE = (s3.NAME, *(c.name for c in controlplane.COMPONENTS))
NODE = tuple(p.name for p in node.ALL)
ALL = (*CONTROL_PLANE, *NODE)


def _default_service_account(settings: Settings) -> bool:
    api = KubeApi(settings, timeout=5)
    return bool(api.get("/api/v1/namespaces/default/serviceaccounts")["items"])


def up(settings: Settings) -> list[str]:
    """Start what is not running and wait until the cluster can run pods."""
    t0 = time.monotonic()
    ports.reserve(settings)
    started = []
    if s3.start(settings):  # it starts while the control plane does
        started.append(s3.NAME)
    bins = controlplane.bin_dir(settings)
    started += controlplane.up(settings, bins)
    s3.wait(settings)
    started += node.up(settings, node.bin_dir(settings))
    procs.wait_until("default ServiceAccount", lambda: _default_service_account(settings), 60)
    print(f"[cluster] up in {time.monotonic() - t0:.1f}s; started: {started or 'nothing'}",
          file=sys.stderr)  # fmt: skip
    return started


def down(settings: Settings, only: list[str] | None = None) -> list[str]:
    """Stop components in reverse start order (all known ones, or just ``only``)."""
    stopped = []
    if only is None or set(only) & set(NODE):
        stopped += node.down(settings, node.bin_dir(settings))
    for name in reversed(CONTROL_PLANE):
        grace = s3.STOP_GRACE if name == s3.NAME else 15.0
        if (only is None or name in only) and procs.stop(settings, name, grace):
            stopped.append(name)
    return stopped


def status(settings: Settings) -> dict[str, int | None]:
    return {name: procs.running(settings, name) for name in ALL}


def env_lines(settings: Settings) -> str:
    """``export`` lines for a shell: kubeconfig, S3 credentials, PATH with kubectl, helm, crictl
    and ctr (``CONTAINER_RUNTIME_ENDPOINT`` points crictl at the node's containerd)."""
    bins = f"{controlplane.bin_dir(settings)}:{node.bin_dir(settings)}"
    values = {
        "KUBECONFIG": str(settings.kubeconfig),
        **s3.endpoint(settings).env(),
        "CONTAINER_RUNTIME_ENDPOINT": f"unix://{settings.containerd_socket}",
        "CONTAINERD_ADDRESS": str(settings.containerd_socket),
        "CONTAINERD_NAMESPACE": "k8s.io",
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
