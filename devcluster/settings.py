"""Where the local control plane keeps its state, and which loopback ports it listens on.

Every value has a fixed default (so `make cluster-up` and the pytest fixture find each other)
and an environment override (so two checkouts, or a busy port, can coexist).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "FINETUNE_TESTENV_"


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def _int(name: str, default: int) -> int:
    return int(os.environ.get(ENV_PREFIX + name, default))


def _str(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


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
    nodes: int
    """How many nodes the node agent registers (``nodeagent-0`` …)."""
    gpus_per_node: int

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
            nodes=_int("NODES", 1),
            gpus_per_node=_int("GPUS_PER_NODE", 8),
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
    def pods(self) -> Path:
        """Per-pod directories: materialised volumes, /etc/hosts, termination message, logs."""
        return self.state / "pods"

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def cache(self) -> Path:
        """Shared across checkouts: built binaries and the torch extensions cache."""
        return Path(os.environ.get("FINETUNE_CACHE", Path.home() / ".cache" / "finetune-operator"))
