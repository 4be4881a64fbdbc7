"""Runtime settings from the environment of the contract (docs/architecture.md).

The job itself comes from ``--job FILE`` (``jobspec.py``); this module holds what the pod's
environment decides: rendezvous, scratch space and where reports go.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from finetune_trainer.jobspec import SCRATCH_ENV

SCRATCH_LAYOUT = {
    "HOME": "home",
    "TMPDIR": "tmp",
    "XDG_CACHE_HOME": "cache",
    "HF_HOME": "hf",
    "HF_DATASETS_CACHE": "hf/datasets",
    "TORCH_EXTENSIONS_DIR": "torch-extensions",
    "TRITON_CACHE_DIR": "triton",
    "MPLCONFIGDIR": "matplotlib",
}
"""Each variable that places a cache or temp dir the trainer's libraries write, and its
subdirectory of the scratch dir."""


@dataclass(frozen=True)
class Rendezvous:
    """Where this pod sits in the run; defaults describe a single process."""

    nnodes: int = 1
    node_rank: int = 0
    nproc_per_node: int = 1
    master_addr: str = "127.0.0.1"
    master_port: int = 29500

    @property
    def world_size(self) -> int:
        return self.nnodes * self.nproc_per_node

    @classmethod
    def from_env(cls) -> Rendezvous:
        env = os.environ
        return cls(
            nnodes=int(env.get("NNODES", "1")),
            node_rank=int(env.get("NODE_RANK", "0")),
            nproc_per_node=int(env.get("NPROC_PER_NODE", "1")),
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port=int(env.get("MASTER_PORT", "29500")),
        )


def use_scratch(env: MutableMapping[str, str]) -> None:
    """Place every cache and temp dir of ``SCRATCH_LAYOUT`` under $FINETUNE_SCRATCH.

    Call it before torch, transformers or matplotlib are imported: they read these variables
    once. In a pod the root filesystem is read-only and only the scratch emptyDir is writable,
    so a library writing to its default (~/.cache, /tmp) would fail. A variable already set is
    kept, as the user chose it, except a HOME that is not a writable directory: the container
    runtime always sets HOME (from /etc/passwd), so such a HOME is a default, not a choice.
    Without $FINETUNE_SCRATCH (a run outside a pod) nothing changes.
    """
    scratch = env.get(SCRATCH_ENV)
    if not scratch:
        return
    for name, subdir in SCRATCH_LAYOUT.items():
        current = env.get(name)
        if current and (name != "HOME" or _writable_dir(current)):
            continue
        path = Path(scratch) / subdir
        path.mkdir(parents=True, exist_ok=True)  # TMPDIR must exist, or tempfile skips it
        env[name] = str(path)


def _writable_dir(path: str) -> bool:
    return Path(path).is_dir() and os.access(path, os.W_OK)


def scratch_dir(job_name: str) -> Path:
    """Local working space: $FINETUNE_SCRATCH (an emptyDir in the pod) or the temp dir."""
    base = Path(os.environ.get(SCRATCH_ENV) or tempfile.gettempdir())
    path = base / f"finetune-{job_name}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_worker() -> bool:
    """True inside a process started by torchrun (or given the launcher env by hand)."""
    return "RANK" in os.environ and "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_process_env() -> None:
    """Env that DeepSpeed and accelerate read once; set before the training modules load.

    ACCELERATE_USE_DEEPSPEED makes accelerate initialise DeepSpeed's process group (the CPU
    world-size fix of notes/deepspeed-cpu.md needs it); DS_ACCELERATOR=cpu keeps DeepSpeed from
    probing for devices on a machine without CUDA.
    """
    import torch  # noqa: PLC0415 (heavy; validate and the launcher never need it)

    os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")


def single_process_env() -> None:
    """The launcher env for one process, so DeepSpeed does not fall back to MPI discovery."""
    os.environ.update(
        RANK="0",
        LOCAL_RANK="0",
        WORLD_SIZE="1",
        LOCAL_WORLD_SIZE="1",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(free_port()),
    )
