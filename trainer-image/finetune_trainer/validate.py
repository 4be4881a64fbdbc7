"""``validate``: prove the inputs before any GPU is requested.

Reads the dataset and the model's tokenizer and config (never the weights) from S3, checks every
line, and counts examples and tokens with TRL's own tokenization, so the numbers are the ones
training will see. For an hf:// model the summary names the commit its revision resolved to: the
operator pins the training pods to it, so they train the model validated here.
"""

from __future__ import annotations

import logging
from typing import Any

from accelerate import PartialState
from transformers import AutoConfig, AutoTokenizer, GenerationConfig
from trl.trainer.sft_config import SFTConfig

from finetune_api.jobspec import FineTuneJob
from finetune_api.reports import DatasetStats, ValidateSummary
from finetune_trainer.config import scratch_dir
from finetune_trainer.errors import InvalidDataset
from finetune_trainer.inputs import fetch_dataset, fetch_model
from finetune_trainer.prepare import Workspace, check_eos, load_datasets, tokenization_options
from finetune_trainer.sft import assistant_masks_supported, tokenize_only
from finetune_trainer.storage import Storage

log = logging.getLogger(__name__)


def split_stats(dataset: Any, tokenizer: Any, args: Any, max_length: int) -> dict[str, int]:
    """Examples, kept tokens, truncated and dropped examples, with TRL's own masks.

    Tokenized untruncated, so lengths are known; the drop rule is TRL's (no label left in the
    first max_length tokens).
    """
    tokenized = tokenize_only(dataset, tokenizer, args)
    tokens = truncated = dropped = 0
    for example in tokenized:
        length = len(example["input_ids"])
        truncated += length > max_length
        if all(label == -100 for label in example["labels"][:max_length]):
            dropped += 1
            continue
        tokens += min(length, max_length)
    return {
        "examples": len(tokenized),
        "tokens": tokens,
        "truncated": truncated,
        "dropped": dropped,
    }


def run(job: FineTuneJob) -> ValidateSummary:
    root = scratch_dir(job.metadata.name) / "validate"
    ws = Workspace(root)
    storage = Storage()
    source = fetch_model(storage, job.spec.base_model.uri, ws.model, weights=False)
    if source.revision:
        log.info("validate: baseModel %s is commit %s", source.uri, source.revision)
    files = fetch_dataset(storage, job.spec, ws.data)
    tokenizer = AutoTokenizer.from_pretrained(ws.model, trust_remote_code=False)
    if (ws.model / "generation_config.json").exists():
        generation = GenerationConfig.from_pretrained(ws.model)
    else:
        generation = GenerationConfig.from_model_config(
            AutoConfig.from_pretrained(ws.model, trust_remote_code=False)
        )
    check_eos(tokenizer, generation, files.format)
    assistant_masks = assistant_masks_supported(tokenizer)
    splits = load_datasets(
        PartialState(), ws=ws, job=job, files=files, assistant_masks=assistant_masks
    )
    train, evaluation = splits.train, splits.eval
    options = tokenization_options(job, files.format, assistant_masks) | {"max_length": None}
    args = SFTConfig(
        output_dir=str(root / "sft"), report_to="none", use_cpu=True, bf16=False, **options
    )
    max_length = job.spec.hyperparameters.max_seq_length
    train_stats = split_stats(train, tokenizer, args, max_length)
    eval_stats = split_stats(evaluation, tokenizer, args, max_length) if evaluation else None
    if train_stats["dropped"] == train_stats["examples"]:
        raise InvalidDataset(
            f"{job.spec.dataset.train}: no valid training examples: every one has all its target "
            f"tokens past maxSeqLength {job.spec.hyperparameters.max_seq_length}"
        )
    dataset = DatasetStats(
        train_examples=train_stats["examples"] - train_stats["dropped"],
        eval_examples=eval_stats["examples"] - eval_stats["dropped"] if eval_stats else 0,
        train_tokens=train_stats["tokens"],
        truncated_examples=train_stats["truncated"],
        dropped_examples=train_stats["dropped"] + (eval_stats["dropped"] if eval_stats else 0),
        format=files.format,
    )
    log.info("validate: %s", dataset.wire())
    return ValidateSummary(dataset=dataset, base_model=source.reported())
