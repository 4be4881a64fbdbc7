"""The real node: containerd (runc, CNI), BuildKit, kubelet, kube-proxy and CoreDNS on the host.

``up`` starts containerd and BuildKit, builds the project's images into containerd (images.py),
then starts the kubelet, kube-proxy and CoreDNS and waits for the node to be Ready with its GPU
capacity. ``down`` removes every pod sandbox through the CRI (so networks and namespaces are
torn down as a kubelet would), stops the processes and unmounts what the kubelet left mounted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devcluster import images, nodeconfig, pki, procs
from devcluster.kubeapi import KubeApi
from devcluster.settings import Settings

GPU_RESOURCE = "nvidia.com/gpu"
# Debian's packages the node needs on the host: devcluster/host-packages.sh installs them.
HOST_TOOLS = (nodeconfig.RUNC, f"{nodeconfig.CNI_BIN_DIR}/bridge", "/usr/sbin/iptables",
              "/usr/sbin/debootstrap")  # fmt: skip


def bin_dir(settings: Settings) -> Path:
    """Build (first time, about 25 min on 2 cores) or find the cached node binaries."""
    return procs.built_bin_dir(settings, "build-node.sh")


def _env(bins: Path) -> dict[str, str]:
    path = f"{bins}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return {"PATH": path, "HOME": os.environ.get("HOME", "/root")}


def _write(path: Path, text: str) -> Path:
    """Write ``text`` unless the file holds it already: kube-proxy exits when its file changes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def prepare_host(settings: Settings) -> None:
    """Host settings a node needs, and the configuration files of its components."""
    missing = [tool for tool in HOST_TOOLS if not Path(tool).exists()]
    if missing:
        raise FileNotFoundError(
            f"missing on the host: {', '.join(missing)}; run devcluster/host-packages.sh"
        )
    for key, value in (("net/ipv4/ip_forward", "1"), ("net/bridge/bridge-nf-call-iptables", "1")):
        Path("/proc/sys", key).write_text(value)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    _write(settings.run_dir / "containerd.toml", nodeconfig.containerd_config(settings))
    _write(settings.cni_conf_dir / "10-devcluster.conflist", nodeconfig.cni_network(settings))
    _write(settings.kubelet_root / "config.yaml", nodeconfig.kubelet_config(settings))
    _write(settings.state / "kube-proxy.yaml", nodeconfig.kube_proxy_config(settings))
    _write(settings.state / "Corefile", nodeconfig.corefile(settings))
    pki.write_node_kubeconfigs(settings)


@dataclass(frozen=True)
class Process:
    """One node process: its command line and how to tell it is ready."""

    name: str
    argv: Callable[[Settings, Path], list[str]]
    ready: Callable[[Settings, Path], object]
    timeout: float = 60


def _run_ok(argv: list[str]) -> bool:
    return subprocess.run(argv, check=False, capture_output=True, timeout=10).returncode == 0


CONTAINERD = Process(
    "containerd",
    lambda s, b: [str(b / "containerd"), f"--config={s.run_dir / 'containerd.toml'}"],
    lambda s, b: _run_ok([str(b / "ctr"), f"--address={s.containerd_socket}", "version"]),
)
BUILDKITD = Process(
    "buildkitd",
    lambda s, b: [
        str(b / "buildkitd"),
        f"--root={s.buildkit_root}",
        f"--addr=unix://{s.buildkit_socket}",
        "--oci-worker=false",
        "--containerd-worker=true",
        f"--containerd-worker-addr={s.containerd_socket}",
        "--containerd-worker-namespace=k8s.io",  # the kubelet's: built images are runnable
        "--containerd-worker-net=host",  # RUN steps download packages
        "--containerd-worker-gc-keepstorage=40000",  # MB: keep torch's layers between runs
    ],
    lambda s, b: _run_ok(
        [str(b / "buildctl"), f"--addr=unix://{s.buildkit_socket}", "debug", "workers"]
    ),
)
KUBELET = Process(
    "kubelet",
    lambda s, b: [
        str(b / "kubelet"),
        f"--config={s.kubelet_root / 'config.yaml'}",
        f"--kubeconfig={s.pki / 'kubelet.kubeconfig'}",
        f"--hostname-override={s.node_name}",
        f"--node-ip={s.node_ip}",
        f"--root-dir={s.kubelet_root}",
        f"--cert-dir={s.kubelet_root / 'pki'}",
        "--v=1",
    ],
    lambda s, b: KubeApi(s, timeout=5).get(f"/api/v1/nodes/{s.node_name}"),
    timeout=120,
)
KUBE_PROXY = Process(
    "kube-proxy",
    lambda s, b: [str(b / "kube-proxy"), f"--config={s.state / 'kube-proxy.yaml'}", "--v=1"],
    lambda s, b: _run_ok(["curl", "-sf", f"http://127.0.0.1:{s.kube_proxy_healthz_port}/healthz"]),
)
COREDNS = Process(
    "coredns",
    lambda s, b: [str(b / "coredns"), "-conf", str(s.state / "Corefile")],
    lambda s, b: _run_ok(["curl", "-sf", f"http://127.0.0.1:{s.coredns_ready_port}/ready"]),
)
RUNTIME = (CONTAINERD, BUILDKITD)
NODE = (KUBELET, KUBE_PROXY, COREDNS)
ALL = (*RUNTIME, *NODE)


def _start(settings: Settings, bins: Path, process: Process) -> bool:
    if procs.running(settings, process.name):
        return False
    procs.start(settings, process.name, process.argv(settings, bins), _env(bins))
    procs.wait_until(process.name, lambda: process.ready(settings, bins), process.timeout)
    return True


def _grant_coredns(api: KubeApi) -> None:
    """CoreDNS reads Services, EndpointSlices, Namespaces and Pods, and nothing else."""
    role = {
        "metadata": {"name": "devcluster:coredns"},
        "rules": [
            {"apiGroups": [""], "resources": ["services", "namespaces", "pods", "endpoints"],
             "verbs": ["list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
             "verbs": ["list", "watch"]},
        ],
    }  # fmt: skip
    binding = {
        "metadata": {"name": "devcluster:coredns"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "devcluster:coredns"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": "devcluster:coredns"}],
    }  # fmt: skip
    base = "/apis/rbac.authorization.k8s.io/v1"
    api.ensure(f"{base}/clusterroles", role)
    api.ensure(f"{base}/clusterrolebindings", binding)


def _advertise_gpus(settings: Settings, api: KubeApi) -> bool:
    """Add ``nvidia.com/gpu`` to the node's capacity, as a device plugin would.

    The kubelet keeps extended resources it does not manage, so GPU-requesting pods schedule
    and are admitted; they still run on the CPU, since this machine has no GPU.
    """
    gpus = str(settings.gpus_per_node)
    api.patch(
        f"/api/v1/nodes/{settings.node_name}/status",
        {"status": {"capacity": {GPU_RESOURCE: gpus}, "allocatable": {GPU_RESOURCE: gpus}}},
    )
    return True


def _ready(settings: Settings, api: KubeApi) -> bool:
    node = api.get(f"/api/v1/nodes/{settings.node_name}")
    status = node.get("status", {})
    ready = any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []
    )
    has_gpus = status.get("allocatable", {}).get(GPU_RESOURCE) == str(settings.gpus_per_node)
    return ready and (has_gpus or not _advertise_gpus(settings, api))


def up(settings: Settings, bins: Path) -> list[str]:
    """Start what is not running; returns the names started."""
    prepare_host(settings)
    started = [p.name for p in RUNTIME if _start(settings, bins, p)]
    images.import_local_images(settings, bins)
    images.build_all(settings, bins)
    api = KubeApi(settings)
    _grant_coredns(api)
    started += [p.name for p in NODE if _start(settings, bins, p)]
    procs.wait_until(
        f"node {settings.node_name} Ready with {GPU_RESOURCE}", lambda: _ready(settings, api), 120
    )
    return started


def _crictl(settings: Settings, bins: Path, *args: str) -> None:
    subprocess.run(
        [str(bins / "crictl"), f"--runtime-endpoint=unix://{settings.containerd_socket}",
         "--timeout=30s", *args],
        check=False, capture_output=True,
    )  # fmt: skip


def _kill_shims(settings: Settings) -> None:
    """Shims outlive containerd by design; ours name our socket on their command line."""
    marker = str(settings.containerd_socket).encode()
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            cmdline = (proc / "cmdline").read_bytes()
            if b"containerd-shim" in cmdline and marker in cmdline:
                os.kill(int(proc.name), signal.SIGKILL)


def _unmount_below(*roots: Path) -> None:
    """Lazily unmount what the kubelet and containerd mounted under ``roots``, deepest first."""
    prefixes = tuple(str(r) + "/" for r in roots)
    exact = {str(r) for r in roots}  # the kubelet bind-mounts its root dir onto itself
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    below = (m for m in mounts if m in exact or m.startswith(prefixes))
    for mount in sorted(below, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)


def down(settings: Settings, bins: Path) -> list[str]:
    """Stop the node: kubelet first (it would restart pods), then sandboxes, then the rest."""
    stopped = []
    if procs.stop(settings, KUBELET.name):
        stopped.append(KUBELET.name)
    if procs.running(settings, CONTAINERD.name):
        _crictl(settings, bins, "rmp", "--all", "--force")
    for process in (COREDNS, KUBE_PROXY, BUILDKITD, CONTAINERD):
        if procs.stop(settings, process.name):
            stopped.append(process.name)
    if KUBE_PROXY.name in stopped:  # its iptables chains go with it
        subprocess.run([str(bins / "kube-proxy"), "--cleanup"], check=False, capture_output=True)
    _kill_shims(settings)
    time.sleep(0.5)
    _unmount_below(settings.kubelet_root, settings.run_dir)
    return stopped
