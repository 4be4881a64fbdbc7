"""One training run in the test's own process, as the ``train`` command runs it without torchrun."""

from __future__ import annotations

import os
from typing import Any

from accelerate.state import AcceleratorState

from finetune_api.jobspec import parse_job
from finetune_trainer.config import single_process_env
from finetune_trainer.train import run


def train_in_process(document: dict[str, Any]) -> Any:
    """One run in this process, as ``train`` would do it without torchrun.

    A pod runs once per process; here several runs share one, so accelerate's singletons (which
    refuse a second DeepSpeed plugin) are reset first. The gloo process group stays up. The
    launcher env it sets is removed afterwards, or later subprocesses would think they are ranks.
    """
    saved = dict(os.environ)
    AcceleratorState._reset_state(reset_partial_state=True)
    single_process_env()
    try:
        return run(parse_job(document))
    finally:
        os.environ.clear()
        os.environ.update(saved)
