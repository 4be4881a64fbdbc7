"""FineTuneJob manifests for tests: the one place a minimal valid job is written out."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml

from finetune_api.resource import API_VERSION, KIND


def finetunejob(
    name: str = "demo",
    namespace: str | None = "team-a",
    *,
    uid: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A minimal valid FineTuneJob as a user would apply it; each ``spec`` keyword (camelCase,
    as in the manifest) replaces that whole field. ``namespace=None`` leaves it to the client."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if uid is not None:
        metadata["uid"] = uid
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {
            "baseModel": {"uri": "s3://models/base/"},
            "dataset": {"train": "s3://data/train.jsonl"},
            "output": {"uri": "s3://models/out/"},
            **spec,
        },
    }


def trainer_job(inputs: dict[str, str], **spec: Any) -> dict[str, Any]:
    """A small, fast LoRA job with a fresh name on the tiny model in ``inputs`` (URIs of model,
    train, eval and output); a ``spec`` keyword whose value is a dict is merged into that field,
    others replace it."""
    fields: dict[str, Any] = {
        "baseModel": {"uri": inputs["model"]},
        "dataset": {"train": inputs["train"], "eval": inputs["eval"], "format": "auto"},
        "method": {"type": "lora", "lora": {"r": 8, "alpha": 16, "dropout": 0.0}},
        "hyperparameters": {
            "epochs": 1,
            "learningRate": 5.0e-3,
            "batchSize": 8,
            "maxSeqLength": 64,
            "warmupRatio": 0.0,
            "seed": 7,
        },
        "deepspeed": {"zeroStage": 2},
        "output": {"uri": inputs["output"]},
        "checkpointing": {"everySteps": 4, "keep": 2},
    }
    for key, value in spec.items():
        merge = isinstance(value, dict) and isinstance(fields.get(key), dict)
        fields[key] = fields[key] | value if merge else value
    return finetunejob(f"job-{uuid.uuid4().hex[:8]}", "default", **fields)


def write_job(path: Path, document: dict[str, Any]) -> Path:
    """``document`` as a job file for ``--job``."""
    path.write_text(yaml.safe_dump(document))
    return path
