"""Publish a finished run to ``<output.uri>`` (docs/user-guide.md, "Read the outputs"):
weights, tokenizer, metrics, loss curve, model card, and ``manifest.json``, the commit point.
This module assembles the tree; ``outputs.py`` uploads it so that an interrupted publish never
destroys an earlier complete output.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from finetune_api.jobspec import FineTuneJob
from finetune_api.reports import Metrics, OutputRef, TrainSummary, now_rfc3339
from finetune_trainer.answers import AnswerEval
from finetune_trainer.dsconfig import BatchPlan
from finetune_trainer.hub import HubUri
from finetune_trainer.inputs import DatasetFiles, ModelSource
from finetune_trainer.lossplot import loss_plot
from finetune_trainer.manifest import (
    MANIFEST,
    build_manifest,
    file_entries,
    sha256_file,
    tree_digest,
)
from finetune_trainer.model_card import model_card
from finetune_trainer.outputs import finish, new_attempt, publish_tree, read_manifest
from finetune_trainer.storage import Storage, files_under
from finetune_trainer.uris import ObjectUri

LIBRARIES = (
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "deepspeed",
    "datasets",
    "safetensors",
)


def library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def hardware(world_size: int) -> dict[str, Any]:
    if torch.cuda.is_available():
        device = torch.cuda.get_device_name(0)
        return {"accelerator": "cuda", "device": device, "worldSize": world_size}
    return {
        "accelerator": "cpu",
        "device": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "worldSize": world_size,
    }


def _merge(base_dir: Path, adapter_dir: Path, out: Path, tokenizer: Any) -> None:
    """Merged full weights from the base model and the saved adapter (fresh, on the CPU)."""
    base = AutoModelForCausalLM.from_pretrained(
        base_dir, use_safetensors=True, trust_remote_code=False
    )
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def publish(
    *,
    storage: Storage,
    job: FineTuneJob,
    ws_root: Path,
    weights_dir: Path,
    tokenizer: Any,
    model: Any,
    metrics: dict[str, float],
    history: list[dict[str, Any]],
    answers: AnswerEval | None,
    files: DatasetFiles,
    model_source: ModelSource,
    dataset: dict[str, Any],
    plan: BatchPlan,
    ds_config: dict[str, Any] | None,
    run: str,
    step: int,
    acceleration: dict[str, Any],
) -> TrainSummary:
    """Assemble the output tree and publish it (``outputs.publish_tree``); returns the
    termination summary, which the manifest also keeps, for a retry of the same job
    (``earlier_output``)."""
    spec = job.spec
    out = ws_root / "publish"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    # The HF save adds its pickled TrainingArguments and a card of its own; neither is published.
    shutil.copytree(
        weights_dir,
        out / weights_dir.name,
        ignore=shutil.ignore_patterns("training_args.bin", "README.md"),
    )
    if spec.method.type == "lora":
        _point_adapter_at(out / "adapter" / "adapter_config.json", model_source)
    else:
        model.generation_config.save_pretrained(out / "model")
    tokenizer.save_pretrained(out)
    if spec.output.merge:
        _merge(ws_root / "model", out / "adapter", out / "model", tokenizer)
        model.generation_config.save_pretrained(out / "model")
    (out / "metrics.json").write_text(
        json.dumps(
            {
                "final": metrics,
                "dataset": dataset,
                "baseModel": _base_model(model_source),
                "acceleration": acceleration,
                "history": history,
            },
            indent=1,
        )
    )
    loss_plot(history, out / "loss.png")
    card = model_card(job, metrics, dataset, plan, model_source)
    if answers is not None:
        (out / "eval").mkdir()
        answers.write_generations(out / "eval" / "generations.jsonl")
        card += "\n" + answers.card_section()
    (out / "README.md").write_text(card)

    model_files = files_under(ws_root / "model")
    provenance = {
        "job": {
            "name": job.metadata.name,
            "namespace": job.metadata.namespace,
            "uid": job.metadata.uid,
            "run": run,
        },
        "baseModel": _base_model(model_source) | {"sha256": tree_digest(file_entries(model_files))},
        "dataset": {
            "train": _dataset_source(spec.dataset.train, files.raw_train),
            **(
                {"eval": _dataset_source(spec.dataset.eval, files.raw_eval)}
                if spec.dataset.eval and files.raw_eval
                else {}
            ),
        },
        "config": job.rendered(),
        "resolved": {"batch": plan.__dict__, "deepspeed": ds_config},
        "libraries": library_versions(),
        "seed": spec.hyperparameters.seed,
        "hardware": hardware(plan.world_size),
    }
    output = ObjectUri.parse(spec.output.uri)
    manifest_uri = output.join(MANIFEST)
    tree = files_under(out)
    summary = TrainSummary(
        metrics=Metrics.model_validate(metrics),
        output=OutputRef(uri=spec.output.uri, manifest=str(manifest_uri), files=len(tree)),
        step=step,
    )
    manifest = build_manifest(tree, provenance, now_rfc3339()) | {"summary": summary.wire()}
    publish_tree(storage, output, tree, manifest, new_attempt())
    return summary


def earlier_output(
    storage: Storage, job: FineTuneJob, run: str, *, main_process: bool = True
) -> TrainSummary | None:
    """The summary of this job's own committed output, if a previous attempt published it.

    A retry after a successful publish (the pod died before reporting, or the node went away)
    then exits 0 with that summary instead of training again; global rank 0 first finishes a
    publish cut short after its commit (``outputs.finish``). The manifest must name this
    job's uid and run identity; a job without a uid (a local run) always trains.
    """
    output = ObjectUri.parse(job.spec.output.uri)
    if job.metadata.uid is None:
        return None
    manifest = read_manifest(storage, output)
    if manifest is None:
        return None
    owner = manifest.get("provenance", {}).get("job", {})
    if owner.get("uid") != job.metadata.uid or owner.get("run") != run:
        return None
    if main_process:
        finish(storage, output, manifest)
    return TrainSummary.model_validate(manifest.get("summary") or {})


def _base_model(source: ModelSource) -> dict[str, str]:
    """The base model's URI, and for an hf:// model the commit its revision resolved to."""
    return {"uri": source.uri, **({"revision": source.revision} if source.revision else {})}


def _dataset_source(uri: str, raw: dict[str, str]) -> dict[str, Any]:
    """One object's sha256, or each shard's under a prefix."""
    if not uri.endswith("/"):
        return {"uri": uri, "sha256": sha256_file(Path(next(iter(raw.values()))))}
    shards = [{"uri": shard, "sha256": sha256_file(Path(path))} for shard, path in raw.items()]
    return {"uri": uri, "shards": shards}


def _point_adapter_at(config_path: Path, source: ModelSource) -> None:
    """PEFT records the local download dir as the base model; record the source instead: the
    S3 URI, or the Hub repo and the commit, which PEFT then loads the base model from."""
    config = json.loads(config_path.read_text())
    if source.revision:
        config["base_model_name_or_path"] = HubUri.parse(source.uri).repo_id
        config["revision"] = source.revision
    else:
        config["base_model_name_or_path"] = source.uri
    config_path.write_text(json.dumps(config, indent=2))
