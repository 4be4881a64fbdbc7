"""Trainer callbacks: progress reports, the divergence guard, checkpoint sync and SIGTERM."""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist
from accelerate import PartialState
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from finetune_api.reports import CheckpointRef, Stage, now_rfc3339
from finetune_trainer.checkpoints import CheckpointStore
from finetune_trainer.errors import TrainingDiverged
from finetune_trainer.progress_server import ProgressServer

PRINT_EVERY_S = 10.0
"""Stdout progress lines at most this often (the HTTP channel always has the latest step)."""
GUARDED = ("loss", "grad_norm", "eval_loss")

log = logging.getLogger(__name__)


class Terminate:
    """SIGTERM sets a flag; training checkpoints at the end of the current step, then stops."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        log.warning("SIGTERM: will checkpoint and stop at the end of this step")
        self.requested = True


class DivergenceGuard(TrainerCallback):
    """Stop on a NaN/Inf loss or gradient norm: every later step would be wasted compute."""

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        for key in GUARDED:
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(float(value)):
                raise TrainingDiverged(
                    f"{key} became {value} at step {state.global_step}; lower the learning rate "
                    "or check the data"
                )


class ProgressReporter(TrainerCallback):
    """Feed the progress channel (global rank 0) and print a progress line to stdout."""

    def __init__(self, progress: ProgressServer) -> None:
        self.progress = progress
        self.last_print = self.last_time = 0.0
        self.last_tokens: float | None = None
        self.rate_origin: tuple[float, int] | None = None
        """Time and step of the first logged step: the ETA's rate is measured from there, so
        what runs before it (the base model's evaluation and answers, the first step's warm-up)
        does not inflate the ETA of every step after."""

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.last_time = time.monotonic()
        self.rate_origin = None
        self.progress.update(
            stage=Stage.TRAINING, step=state.global_step, total_steps=state.max_steps
        )

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        logs = logs or {}
        if "base_eval_loss" in logs:
            self.progress.update(base_eval_loss=logs["base_eval_loss"])
        if "eval_loss" in logs:
            self.progress.update(eval_loss=logs["eval_loss"])
        if "loss" not in logs:
            return
        now = time.monotonic()
        tokens_per_s = None
        tokens = logs.get("num_tokens")
        if tokens is not None:
            if self.last_tokens is not None and tokens > self.last_tokens and now > self.last_time:
                tokens_per_s = round((tokens - self.last_tokens) / (now - self.last_time), 1)
            self.last_tokens, self.last_time = tokens, now
        eta = self.eta(now, state.global_step, state.max_steps)
        self.progress.update(
            step=state.global_step,
            total_steps=state.max_steps,
            epoch=round(state.epoch or 0.0, 4),
            loss=logs["loss"],
            tokens_per_second=tokens_per_s,
            eta_seconds=round(eta) if eta is not None else None,
        )
        if now - self.last_print >= PRINT_EVERY_S or state.global_step == state.max_steps:
            self.last_print = now
            print(
                f"progress step {state.global_step}/{state.max_steps} epoch {state.epoch:.2f} "
                f"loss {logs['loss']:.4f} tokens/s {tokens_per_s} eta_s {eta and round(eta)}",
                flush=True,
            )

    def eta(self, now: float, step: int, max_steps: int) -> float | None:
        if self.rate_origin is None:
            self.rate_origin = (now, step)
            return None
        since, from_step = self.rate_origin
        done = step - from_step
        return (now - since) / done * (max_steps - step) if done > 0 else None


class CheckpointSync(TrainerCallback):
    """Upload each local checkpoint to S3 in the background (marker last); honour SIGTERM.

    Training goes on while a checkpoint uploads; at most one upload is in flight, and the next
    save, or the end of training (before the final publish), waits for it, so an upload error
    surfaces there (``StorageUnavailable`` after the retry budget) rather than being lost. The
    upload reads a hard-linked snapshot of the checkpoint dir, since the Trainer deletes the
    previous checkpoint as it writes the next. Every node uploads the files its ranks wrote;
    the marker, written last, says all of them are in S3: with one process the upload thread
    writes it; with more, global rank 0 writes it at the next wait, after a barrier.
    """

    def __init__(
        self, store: CheckpointStore, terminate: Terminate, progress: ProgressServer | None
    ) -> None:
        self.state = PartialState()
        self.store = store
        self.terminate = terminate
        self.progress = progress
        self.stopped_by_signal = False
        self.uploads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint-upload")
        self.pending: tuple[int, Future[None] | None] | None = None
        """The step being uploaded, and this process's upload (None on other local ranks)."""

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self._anyone_terminating():
            self.stopped_by_signal = True
            control.should_save = True
            control.should_training_stop = True

    def _anyone_terminating(self) -> bool:
        """Ranks must agree on the step to stop at, or the collective save would hang."""
        if self.state.num_processes == 1:
            return self.terminate.requested
        flag = torch.tensor([int(self.terminate.requested)], device=self.state.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.wait()
        step = state.global_step
        local = Path(str(args.output_dir)) / f"checkpoint-{step}"
        upload = None
        if self.state.is_local_main_process:
            staged = snapshot(local, Path(f"{args.output_dir}-upload") / local.name)
            upload = self.uploads.submit(self._upload, staged, step)
        self.pending = (step, upload)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.wait()

    def wait(self) -> None:
        """Finish the upload in flight, if any: its errors are raised here."""
        if self.pending is None:
            return
        step, upload = self.pending
        self.pending = None
        if upload is not None:
            upload.result()
        if self.state.num_processes > 1:
            self.state.wait_for_everyone()
            if self.state.is_main_process:
                self._mark(step)
            self.state.wait_for_everyone()

    def _upload(self, staged: Path, step: int) -> None:
        started = time.monotonic()
        try:
            self.store.upload_files(staged, step)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        log.info("checkpoint: step %d uploaded (%.1f s)", step, time.monotonic() - started)
        if self.state.num_processes == 1:
            self._mark(step)

    def _mark(self, step: int) -> None:
        uri = self.store.mark_complete(step, {"time": now_rfc3339()})
        log.info("checkpoint: step %d complete at %s", step, uri)
        if self.progress is not None:
            self.progress.update(
                last_checkpoint=CheckpointRef(uri=f"{uri}/", step=step, time=now_rfc3339())
            )


def snapshot(src: Path, dest: Path) -> Path:
    """Hard links to src's files under dest: what the upload reads while the Trainer goes on
    (a checkpoint's files are written once, never changed in place)."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest, copy_function=os.link)
    return dest
