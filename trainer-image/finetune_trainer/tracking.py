"""Experiment tracking (``spec.tracking``): which transformers integrations report (each reads
its settings from the environment), and the TensorBoard event files' way to
``<output.uri>/tensorboard/``.

The event files are written in place, not through the publish manifest: they are logs that
grow while training runs, uploaded after each checkpoint (so a preempted or failed run still has
its curves) and once more when training ends. Each attempt writes event files of its own
(tensorboardX names them by time and host), so a resumed job's curves continue in the same
directory. Only global rank 0 logs.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.integrations.integration_utils import TensorBoardCallback

from finetune_api.jobspec import Tracking
from finetune_api.pod import TENSORBOARD_LOGGING_DIR, TrackingEnv
from finetune_trainer.outputs import TENSORBOARD_PREFIX
from finetune_trainer.storage import Storage, files_under
from finetune_trainer.uris import ObjectUri

log = logging.getLogger(__name__)


def report_to(tracking: Tracking) -> list[str]:
    """The ``report_to`` integrations the spec turns on; empty reports to none."""
    wanted = {
        "tensorboard": tracking.tensorboard,
        "mlflow": tracking.mlflow is not None,
        "wandb": tracking.wandb is not None,
    }
    return [name for name, on in wanted.items() if on]


def tracker_env(tracking: Tracking) -> dict[str, str]:
    """The trackers' settings from the job document, as the variables their clients read
    (the operator adds the credentials, from the Secrets the spec names)."""
    env: dict[str, str] = {}
    if (mlflow := tracking.mlflow) is not None:
        env[TrackingEnv.MLFLOW_TRACKING_URI] = mlflow.tracking_uri
        if mlflow.experiment_name:
            env[TrackingEnv.MLFLOW_EXPERIMENT_NAME] = mlflow.experiment_name
    if (wandb := tracking.wandb) is not None:
        env[TrackingEnv.WANDB_PROJECT] = wandb.project
        if wandb.entity:
            env[TrackingEnv.WANDB_ENTITY] = wandb.entity
    return env


def use_tensorboard_dir(local_dir: Path) -> None:
    """Point transformers' TensorBoard callback at ``local_dir``: it reads the directory from
    the environment only (``TENSORBOARD_LOGGING_DIR``), when the trainer is built."""
    local_dir.mkdir(parents=True, exist_ok=True)
    os.environ[TENSORBOARD_LOGGING_DIR] = str(local_dir)


class TensorBoardUpload(TrainerCallback):
    """Upload the event files after each checkpoint and at the end of training (global rank 0).

    Added after the trainer is built, so it runs after transformers' ``TensorBoardCallback``,
    whose writer it flushes before a checkpoint's upload (the writer flushes on its own only
    every two minutes) and which has closed the writer by the end of training."""

    def __init__(self, storage: Storage, output: ObjectUri, local_dir: Path, trainer: Any) -> None:
        self.storage = storage
        self.target = output.join(TENSORBOARD_PREFIX)
        self.local_dir = local_dir
        self.writers = [
            cb for cb in trainer.callback_handler.callbacks if isinstance(cb, TensorBoardCallback)
        ]

    def upload(self) -> None:
        for writer in self.writers:
            if writer.tb_writer is not None:
                writer.tb_writer.flush()
        files = files_under(self.local_dir)
        self.storage.upload_files(files, self.target)
        log.info("tensorboard: %d event files at %s/", len(files), self.target)

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if state.is_world_process_zero:
            self.upload()

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if state.is_world_process_zero:
            self.upload()
