"""The progress line's ETA: measured from the first logged step, so the base model's
evaluation and answers before it (a minute or more on a CPU) do not inflate every ETA after."""

from __future__ import annotations

import time

import pytest
from transformers import TrainerControl, TrainerState, TrainingArguments

from finetune_trainer.callbacks import ProgressReporter
from finetune_trainer.progress_server import ProgressServer


def test_eta_follows_the_step_rate_not_the_time_spent_before_the_first_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    progress = ProgressServer()
    reporter = ProgressReporter(progress)
    args = TrainingArguments(output_dir="unused", report_to="none")
    state = TrainerState(max_steps=100)
    reporter.on_train_begin(args, state, TrainerControl())
    clock[0] += 90.0  # base eval loss and base answers at step 0, then the first step
    etas = []
    for step in range(1, 6):
        state.global_step, state.epoch = step, step / 100
        reporter.on_log(args, state, TrainerControl(), logs={"loss": 1.0})
        etas.append(progress.snapshot().eta_seconds)
        clock[0] += 5.0  # each later step takes 5 s
    assert etas[0] is None  # one logged step gives no rate yet
    assert etas[1:] == [5 * (100 - step) for step in range(2, 6)]
