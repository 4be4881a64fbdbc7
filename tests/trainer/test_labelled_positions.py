"""The LM head projects only the positions that carry a label, with the loss and gradients TRL's
full projection gives (sft.score_labelled_positions_only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from peft import LoraConfig, get_peft_model
from tests.trainer.tiny import chat_examples
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl.kernels import chunked_logprob
from trl.kernels.chunked_logprob import ChunkedLogProbFunction
from trl.trainer import utils as trl_utils

from finetune_trainer.sft import score_labelled_positions_only


def _batch(tokenizer: Any) -> dict[str, torch.Tensor]:
    """Four chats, right-padded, labels on the assistant turn only (as TRL's collator makes)."""
    rows, labels = [], []
    for example in chat_examples(4, seed=3):
        messages = example["messages"]
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        prompt = tokenizer.apply_chat_template(
            messages[:-1], tokenize=False, add_generation_prompt=True
        )
        ids = tokenizer(full)["input_ids"]
        prompt_len = len(tokenizer(prompt)["input_ids"])
        rows.append(ids)
        labels.append([-100] * prompt_len + ids[prompt_len:])
    width = max(len(r) for r in rows)
    batch = {
        "input_ids": torch.full((len(rows), width), tokenizer.pad_token_id),
        "attention_mask": torch.zeros((len(rows), width), dtype=torch.long),
        "labels": torch.full((len(rows), width), -100),
    }
    for i, (ids, row_labels) in enumerate(zip(rows, labels, strict=True)):
        batch["input_ids"][i, : len(ids)] = torch.tensor(ids)
        batch["attention_mask"][i, : len(ids)] = 1
        batch["labels"][i, : len(ids)] = torch.tensor(row_labels)
    return batch


def _loss_and_grads(
    model_dir: Path, batch: dict[str, torch.Tensor], projected: list[int]
) -> tuple[float, dict[str, torch.Tensor]]:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    trl_utils.add_fused_lm_head(model)
    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    original_apply = ChunkedLogProbFunction.apply

    def counting_apply(hidden: torch.Tensor, *args: Any) -> Any:
        projected.append(hidden.shape[0])
        return original_apply(hidden, *args)

    ChunkedLogProbFunction.apply = counting_apply
    try:
        loss = peft_model(**batch, fused_lm_head=True).loss
    finally:
        ChunkedLogProbFunction.apply = original_apply
    loss.backward()
    grads = {
        name: p.grad.clone() for name, p in peft_model.named_parameters() if p.grad is not None
    }
    return float(loss.detach()), grads


def test_only_labelled_positions_are_projected_with_the_same_loss_and_gradients(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # monkeypatch restores TRL's own switch afterwards, for the tests that follow
    monkeypatch.setattr(trl_utils, "_use_triton", chunked_logprob._use_triton)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    batch = _batch(tokenizer)
    labelled = int((batch["labels"][:, 1:] != -100).sum())
    every_position = batch["labels"][:, 1:].numel()

    full_rows: list[int] = []
    full_loss, full_grads = _loss_and_grads(tiny_model, batch, full_rows)
    score_labelled_positions_only()
    compact_rows: list[int] = []
    compact_loss, compact_grads = _loss_and_grads(tiny_model, batch, compact_rows)

    assert full_rows == [every_position]  # TRL on the CPU: prompt and padding projected too
    assert compact_rows == [labelled]
    assert labelled < every_position / 2
    assert compact_loss == pytest.approx(full_loss, rel=1e-5)
    assert compact_grads.keys() == full_grads.keys()
    assert full_grads  # the LoRA weights have gradients to compare
    for name, grad in full_grads.items():
        torch.testing.assert_close(compact_grads[name], grad, rtol=1e-4, atol=1e-6)
