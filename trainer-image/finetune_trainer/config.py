"""Runtime settings from the pod's environment (``finetune_api.pod``, docs/architecture.md).

The job itself comes from ``--job FILE`` (``finetune_api.jobspec``); this module holds what the
pod's environment decides: rendezvous, scratch space, and the trainer's own limits
(``FINETUNE_MAX_LINE_BYTES``; the storage retry budget is read in ``retry.py``).
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from finetune_api import pod
from finetune_api.pod import SCRATCH_LAYOUT, Env
from finetune_trainer.data import MAX_LINE_BYTES

MAX_LINE_BYTES_ENV = "FINETUNE_MAX_LINE_BYTES"
"""Overrides the longest dataset line read (``data.MAX_LINE_BYTES``); tests make it small."""


@dataclass(frozen=True)
class Rendezvous:
    """Where this pod sits in the run; defaults describe a single process."""

    nnodes: int = 1
    node_rank: int = 0
    nproc_per_node: int = 1
    master_addr: str = "127.0.0.1"
    master_port: int = pod.RENDEZVOUS_PORT

    @property
    def world_size(self) -> int:
        return self.nnodes * self.nproc_per_node

    @classmethod
    def from_env(cls) -> Rendezvous:
        env, default = os.environ, cls()
        return cls(
            nnodes=int(env.get(Env.NNODES, default.nnodes)),
            node_rank=int(env.get(Env.NODE_RANK, default.node_rank)),
            nproc_per_node=int(env.get(Env.NPROC_PER_NODE, default.nproc_per_node)),
            master_addr=env.get(Env.MASTER_ADDR, default.master_addr),
            master_port=int(env.get(Env.MASTER_PORT, default.master_port)),
        )


def threads_per_rank(env: Mapping[str, str]) -> int | None:
    """Intra-op threads for each local rank: the pod's CPUs (``Env.CPUS``) over the node's ranks,
    at least 1; None outside a pod (no allotment: torch's default stays).

    Sized from the allotment, not the node: on a shared node OpenMP threads beyond the pod's
    CPUs wait for each other at every operator (measured: ten times slower with a neighbour).
    """
    allotment = pod_cpus(env)
    if allotment is None:
        return None
    nproc = int(env.get(Env.NPROC_PER_NODE) or 1)
    return max(1, allotment // max(1, nproc))


def pod_cpus(env: Mapping[str, str]) -> int | None:
    """The pod's CPU allotment (``Env.CPUS``), None outside a pod."""
    cpus = env.get(Env.CPUS)
    if not cpus:
        return None
    try:
        return int(cpus)
    except ValueError:
        raise ValueError(f"{Env.CPUS}={cpus!r} is not a whole number of CPUs") from None


EXAMPLES_PER_TOKENIZER_PROCESS = 2000
"""Fewer examples than this per process and the worker processes' start (each loads the
tokenizer and pickles its share) costs more than the tokenising they take over."""


def tokenizer_processes(env: Mapping[str, str], examples: int) -> int | None:
    """Processes for TRL's tokenisation (``dataset_num_proc``): the pod's CPUs, at most one per
    ``EXAMPLES_PER_TOKENIZER_PROCESS`` examples; None tokenises in this process.

    The whole allotment, not a rank's share: one process of a node tokenises (TRL prepares
    on the main process first, the node's other ranks then read its cache) while the rest wait.
    """
    cpus = pod_cpus(env) or 1
    processes = min(cpus, examples // EXAMPLES_PER_TOKENIZER_PROCESS)
    return processes if processes > 1 else None


def set_thread_env(env: MutableMapping[str, str]) -> int | None:
    """Put ``threads_per_rank`` into OMP_NUM_THREADS and MKL_NUM_THREADS, which OpenMP reads
    when torch loads: call it before torch is imported, and before torchrun starts the ranks
    (which then inherit it; torchrun itself would set 1)."""
    threads = threads_per_rank(env)
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return threads


def use_scratch(env: MutableMapping[str, str]) -> None:
    """Place every cache and temp dir of ``SCRATCH_LAYOUT`` under $FINETUNE_SCRATCH.

    Call it before torch, transformers or matplotlib are imported: they read these variables
    once. In a pod the root filesystem is read-only and only the scratch emptyDir is writable,
    so a library writing to its default (~/.cache, /tmp) would fail. A variable already set is
    kept, as the user chose it, except a HOME that is not a writable directory: the container
    runtime always sets HOME (from /etc/passwd), so such a HOME is a default, not a choice.
    Without $FINETUNE_SCRATCH (a run outside a pod) nothing changes.
    """
    scratch = env.get(Env.SCRATCH)
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


def max_line_bytes(env: Mapping[str, str]) -> int:
    """The dataset line cap: $FINETUNE_MAX_LINE_BYTES, else ``data.MAX_LINE_BYTES``."""
    return int(env.get(MAX_LINE_BYTES_ENV) or MAX_LINE_BYTES)


def scratch_dir(job_name: str) -> Path:
    """Local working space: $FINETUNE_SCRATCH (an emptyDir in the pod) or the temp dir."""
    base = Path(os.environ.get(Env.SCRATCH) or tempfile.gettempdir())
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


def world_size(env: Mapping[str, str]) -> int:
    """The run's world size as the launcher set it (torchrun, or ``single_process_env``)."""
    return int(env.get("WORLD_SIZE") or 1)


def prepare_process_env(*, deepspeed: bool) -> None:
    """Env that DeepSpeed and accelerate read once; set before the training modules load.

    With DeepSpeed (``dsconfig.uses_deepspeed``), ACCELERATE_USE_DEEPSPEED makes accelerate
    initialise DeepSpeed's process group (the CPU world-size fix in ``train.py`` needs it);
    DS_ACCELERATOR=cpu keeps DeepSpeed from probing for devices on a machine without CUDA.
    """
    import torch  # noqa: PLC0415 (heavy; validate and the launcher never need it)

    if deepspeed:
        os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"
    else:
        os.environ.pop("ACCELERATE_USE_DEEPSPEED", None)
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
