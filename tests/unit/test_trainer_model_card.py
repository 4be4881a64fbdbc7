"""The model card's Hugging Face front matter: what the Hub, ``huggingface_hub.ModelCard`` and
model registries read (base model, library, tags), and a body that still follows it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.support.manifests import finetunejob

from finetune_api.jobspec import parse_job
from finetune_trainer.dsconfig import BatchPlan
from finetune_trainer.inputs import ModelSource
from finetune_trainer.model_card import model_card

PLAN = BatchPlan(global_batch=16, micro_batch=4, grad_accum=4, world_size=1)
DATASET = {"trainExamples": 100, "evalExamples": 10, "droppedExamples": 0, "format": "chat"}


S3_MODEL = ModelSource(uri="s3://models/smollm2/")


def card_of(source: ModelSource = S3_MODEL, **spec: Any) -> tuple[dict[str, Any], str]:
    """(front matter, body) of the card of a job with ``spec`` trained from ``source``."""
    job = parse_job(finetunejob("support-lora", baseModel={"uri": source.uri}, **spec))
    text = model_card(job, {"evalLoss": 1.25}, DATASET, PLAN, source)
    empty, header, body = text.split("---\n", 2)
    assert empty == "", "the front matter must open the file"
    return yaml.safe_load(header), body


@pytest.mark.parametrize(
    ("method", "library", "tag"),
    [("lora", "peft", "lora"), ("full", "transformers", "full-fine-tuning")],
)
def test_front_matter_names_base_model_library_and_tags(
    method: str, library: str, tag: str
) -> None:
    metadata, body = card_of(method={"type": method})
    assert metadata == {
        "base_model": "s3://models/smollm2/",
        "library_name": library,
        "pipeline_tag": "text-generation",
        "tags": ["finetune-operator", "trl", "sft", tag],
    }
    assert body.lstrip().startswith("# support-lora\n")
    assert "| evalLoss | 1.2500 |" in body


def test_a_merged_lora_job_says_where_both_weights_are() -> None:
    metadata, body = card_of(output={"uri": "s3://models/out/", "merge": True})
    assert metadata["library_name"] == "peft"
    assert "merged weights in `model/`" in body


def test_a_hub_model_is_named_by_its_repo_id() -> None:
    source = ModelSource(uri="hf://HuggingFaceTB/SmolLM2-135M-Instruct@main", revision="a" * 40)
    metadata, body = card_of(source)
    assert metadata["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert f"at commit `{'a' * 40}`" in body
