"""Runtime settings from the environment of the contract (docs/architecture.md).

The job itself comes from ``--job FILE`` (``jobspec.py``); this module holds what the pod's
environment decides: rendezvous, scratch space and where reports go.
"""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path


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


def scratch_dir(job_name: str) -> Path:
    """Local working space: $FINETUNE_SCRATCH (an emptyDir in the pod) or the temp dir."""
    base = Path(os.environ.get("FINETUNE_SCRATCH") or tempfile.gettempdir())
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
