"""The model card, ``README.md`` of the output: Hugging Face YAML front matter (so the Hub,
``huggingface_hub.ModelCard`` and model registries read the base model, library and tags),
then what was trained on what, how, and how well. Torch-free, so it is unit-tested alone.
"""

from __future__ import annotations

from typing import Any

import yaml

from finetune_api.jobspec import FineTuneJob
from finetune_trainer.dsconfig import BatchPlan, uses_deepspeed
from finetune_trainer.hub import HubUri
from finetune_trainer.inputs import ModelSource

TAGS = ("finetune-operator", "trl", "sft")
"""Tags of every card; the method's (``lora`` or ``full-fine-tuning``) is added."""


def front_matter(job: FineTuneJob, source: ModelSource) -> dict[str, Any]:
    """The card's metadata. ``base_model`` names the base model as the adapter's
    ``base_model_name_or_path`` does: the Hub repo id for an hf:// model (what the Hub links
    to), else the S3 URI, the one name such a model has (replace it with a Hub id before
    pushing the card to the Hub, which expects one). ``datasets`` is left out: it takes Hub
    dataset ids, and the data's URIs are in the card's body and ``manifest.json``."""
    lora = job.spec.method.type == "lora"
    return {
        "base_model": HubUri.parse(source.uri).repo_id if source.revision else source.uri,
        # The main artifact: an adapter in adapter/ (PEFT), or full weights in model/.
        "library_name": "peft" if lora else "transformers",
        "pipeline_tag": "text-generation",
        "tags": [*TAGS, "lora" if lora else "full-fine-tuning"],
    }


def model_card(
    job: FineTuneJob,
    metrics: dict[str, float],
    dataset: dict[str, Any],
    plan: BatchPlan,
    source: ModelSource,
) -> str:
    """The whole ``README.md``: front matter, then the body."""
    spec = job.spec
    hp = spec.hyperparameters
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items())
    lora = spec.method.lora
    method = (
        f"LoRA (r={lora.r}, alpha={lora.alpha}, dropout={lora.dropout}, "
        f"targets={', '.join(lora.target_modules)})"
        if lora is not None
        else "full fine-tuning"
    )
    layout = (
        "`adapter/` (load with PEFT on the base model)"
        if spec.method.type == "lora"
        else "`model/`"
    )
    if spec.output.merge:
        layout += "; merged weights in `model/`"
    split = spec.dataset.eval_split
    eval_source = spec.dataset.eval or (f"{split:.0%} split of train" if split else "none")
    job_ref = f"{job.metadata.namespace}/{job.metadata.name}"
    metadata = yaml.safe_dump(front_matter(job, source), sort_keys=False)
    at_commit = f" at commit `{source.revision}`" if source.revision else ""
    engine = (
        f"DeepSpeed ZeRO-{spec.deepspeed.zero_stage}, offload {spec.deepspeed.offload}"
        if uses_deepspeed(spec.deepspeed, plan.world_size)
        else "one process without DeepSpeed (nothing to shard; torch AdamW)"
    )
    return f"""---
{metadata}---

# {job.metadata.name}

Fine-tuned from `{spec.base_model.uri}`{at_commit} by finetune-operator ({job_ref}).

## Data

- train: `{spec.dataset.train}` ({dataset["trainExamples"]} examples, format `{dataset["format"]}`)
- eval: `{eval_source}` ({dataset["evalExamples"]} examples)
- dropped (no trainable token after truncation): {dataset["droppedExamples"]}

## Training

- method: {method}
- epochs {hp.epochs}, learning rate {hp.learning_rate}, global batch {plan.global_batch}
  (micro {plan.micro_batch} x accumulation {plan.grad_accum} x world {plan.world_size})
- max sequence length {hp.max_seq_length}, packing {hp.packing}, seed {hp.seed}
- {engine}

## Metrics

Loss counts only completion / assistant tokens (see the trainer docs); perplexity = exp(eval loss).

| metric | value |
|---|---|
{rows}

## Files

Weights: {layout}. Tokenizer and chat template at the top level. `metrics.json` has the full
history, `loss.png` the curves, `manifest.json` the sha256 of every file and the provenance.
"""
