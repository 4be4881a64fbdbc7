"""Where the local control plane keeps its state, and which loopback ports it listens on.

Every value has a fixed default (so `make cluster-up` and the pytest fixture find each other)
and an environment override (so two checkouts, or a busy port, can coexist).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "FINETUNE_TESTENV_"


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def _int(name: str, default: int) -> int:
    return int(os.environ.get(ENV_PREFIX + name, default))


def _str(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


def _host_ip() -> str:
    """The address of the host's default route: pods reach the host (apiserver, S3, DNS) there.

    Loopback will not do: a pod's packets to 127.0.0.1 stay inside its own network namespace.
    """
    out = subprocess.run(
        ["ip", "-4", "route", "get", "1.0.0.0"], check=True, capture_output=True, text=True
    ).stdout.split()
    return out[out.index("src") + 1]


@dataclass(frozen=True)
class Settings:
    """Ports, credentials and paths of one local control plane."""

    root: Path
    """Repository root; the venv (``.venv``) and the build script are found from here."""
    state: Path
    """``.testenv/``: PKI, etcd data, S3 data, logs, pid files, pod directories."""
    etcd_port: int
    etcd_peer_port: int
    api_port: int
    kcm_port: int
    scheduler_port: int
    s3_port: int
    """The S3 gateway; SeaweedFS also binds ``port + 10000`` for gRPC, hence ports below 55535."""
    weed_master_port: int
    weed_volume_port: int
    weed_filer_port: int
    s3_access_key: str
    s3_secret_key: str
    gpus_per_node: int
    """``nvidia.com/gpu`` capacity advertised by the node; pods still train on the CPU."""
    node_ip: str
    """The host's own address: kubelet, apiserver, S3 and CoreDNS are reached there by pods."""
    kubelet_port: int
    kubelet_healthz_port: int
    kube_proxy_healthz_port: int
    kube_proxy_metrics_port: int
    coredns_health_port: int
    coredns_ready_port: int
    pod_cidr: str
    """The node's pod addresses (the CNI bridge's subnet)."""

    @classmethod
    def from_env(cls) -> Settings:
        root = _repo_root()
        return cls(
            root=root,
            state=Path(_str("STATE", str(root / ".testenv"))),
            etcd_port=_int("ETCD_PORT", 32379),
            etcd_peer_port=_int("ETCD_PEER_PORT", 32380),
            api_port=_int("API_PORT", 36443),
            kcm_port=_int("KCM_PORT", 30257),
            scheduler_port=_int("SCHEDULER_PORT", 30259),
            s3_port=_int("S3_PORT", 38333),
            weed_master_port=_int("WEED_MASTER_PORT", 39333),
            weed_volume_port=_int("WEED_VOLUME_PORT", 38080),
            weed_filer_port=_int("WEED_FILER_PORT", 38888),
            s3_access_key=_str("S3_ACCESS_KEY", "finetune-admin"),
            s3_secret_key=_str("S3_SECRET_KEY", "finetune-local-secret-key"),
            gpus_per_node=_int("GPUS_PER_NODE", 8),
            node_ip=_str("NODE_IP", "") or _host_ip(),
            kubelet_port=_int("KUBELET_PORT", 10250),
            kubelet_healthz_port=_int("KUBELET_HEALTHZ_PORT", 10248),
            kube_proxy_healthz_port=_int("KUBE_PROXY_HEALTHZ_PORT", 10256),
            kube_proxy_metrics_port=_int("KUBE_PROXY_METRICS_PORT", 10249),
            coredns_health_port=_int("COREDNS_HEALTH_PORT", 38180),
            coredns_ready_port=_int("COREDNS_READY_PORT", 38181),
            pod_cidr=_str("POD_CIDR", "10.244.0.0/24"),
        )

    @property
    def venv_bin(self) -> Path:
        return self.root / ".venv" / "bin"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def s3_url(self) -> str:
        """Reachable from the host and from pods alike."""
        return f"http://{self.node_ip}:{self.s3_port}"

    @property
    def node_name(self) -> str:
        return "devnode-0"

    @property
    def cluster_pod_cidr(self) -> str:
        """The /16 that holds the node's pod CIDR: kube-proxy tells pod from outside traffic."""
        return str(ipaddress.ip_network(self.pod_cidr).supernet(new_prefix=16))

    @property
    def run_dir(self) -> Path:
        """Sockets and runtime state; short, since a unix socket path is limited to 107 bytes."""
        return Path("/run") / f"finetune-devcluster-{self.api_port}"

    @property
    def containerd_socket(self) -> Path:
        return self.run_dir / "containerd.sock"

    @property
    def buildkit_socket(self) -> Path:
        return self.run_dir / "buildkitd.sock"

    @property
    def containerd_root(self) -> Path:
        """Images and the build cache's snapshots: kept across clusters and checkouts."""
        return self.cache / "containerd"

    @property
    def buildkit_root(self) -> Path:
        return self.cache / "buildkit"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state / "cni" / "net.d"

    @property
    def cni_bridge(self) -> str:
        return f"ftj{self.api_port % 10000}"

    @property
    def cache(self) -> Path:
        """Shared across checkouts: built binaries and the torch extensions cache."""
        return Path(os.environ.get("FINETUNE_CACHE", Path.home() / ".cache" / "finetune-operator"))
