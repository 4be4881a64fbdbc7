"""Evaluation: the base model's loss before any update, and the final metrics of a run.

Definitions (docs/trainer.md says exactly which tokens count):
- eval loss: TRL/HF mean cross-entropy over eval tokens whose label is not -100, i.e. the
  completion or assistant tokens (all tokens for ``text`` data), EOS included, prompt and padding
  excluded;
- perplexity: exp(eval loss);
- token accuracy: TRL's ``mean_token_accuracy``, the share of those same tokens whose argmax
  prediction is right, averaged over eval batches.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

BASE_PREFIX = "base_eval"
TRAIN_LOSS_WINDOW = 10
"""Final train loss = mean of the last this-many logged step losses (one step alone is noisy)."""


class BaselineEval(TrainerCallback):
    """Evaluate the untouched model at step 0, inside the same DeepSpeed engine as training.

    Running it here (not before ``train()``) avoids building a second DeepSpeed engine. A LoRA
    adapter starts as a no-op (B = 0), so this is the base model's loss. On resume the value
    comes back with the checkpoint's log history and is not recomputed.
    """

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        if state.global_step == 0 and self.trainer.eval_dataset is not None:
            self.trainer.evaluate(metric_key_prefix=BASE_PREFIX)


def final_metrics(
    history: list[dict[str, Any]], final_eval: dict[str, float] | None
) -> dict[str, float]:
    """The run's headline numbers (fields missing when unknown, e.g. without an eval set)."""
    losses = [float(e["loss"]) for e in history if "loss" in e]
    out: dict[str, float] = {}
    if losses:
        window = losses[-TRAIN_LOSS_WINDOW:]
        out["trainLoss"] = sum(window) / len(window)
    base = [float(e[f"{BASE_PREFIX}_loss"]) for e in history if f"{BASE_PREFIX}_loss" in e]
    if base:
        out["baseEvalLoss"] = base[0]
    if final_eval and "eval_loss" in final_eval:
        out["evalLoss"] = float(final_eval["eval_loss"])
        out["evalPerplexity"] = math.exp(min(out["evalLoss"], 700.0))
        if "eval_mean_token_accuracy" in final_eval:
            out["evalTokenAccuracy"] = float(final_eval["eval_mean_token_accuracy"])
    return out
