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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from peft import PeftModel
from transformers import AutoModelForCausalLM

from finetune_api.jobspec import FineTuneJob
from finetune_api.reports import Metrics, OutputRef, TrainSummary, now_rfc3339
from finetune_trainer.answers import AnswerEval
from finetune_trainer.dsconfig import BatchPlan
from finetune_trainer.inputs import DatasetFiles
from finetune_trainer.manifest import (
    MANIFEST,
    build_manifest,
    file_entries,
    sha256_file,
    tree_digest,
)
from finetune_trainer.outputs import finish, new_attempt, publish_tree, read_manifest
from finetune_trainer.storage import S3Uri, Storage, files_under

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


def loss_plot(history: list[dict[str, Any]], path: Path) -> None:
    """Training and eval loss against the step (matplotlib's Agg backend: no display needed)."""
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for key, label in (("loss", "train"), ("eval_loss", "eval"), ("base_eval_loss", "base eval")):
        points = [(e["step"], e[key]) for e in history if key in e and "step" in e]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o" if len(points) < 30 else None, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def model_card(
    job: FineTuneJob, metrics: dict[str, float], dataset: dict[str, Any], plan: BatchPlan
) -> str:
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
    return f"""# {job.metadata.name}

Fine-tuned from `{spec.base_model.uri}` by finetune-operator ({job_ref}).

## Data

- train: `{spec.dataset.train}` ({dataset["trainExamples"]} examples, format `{dataset["format"]}`)
- eval: `{eval_source}` ({dataset["evalExamples"]} examples)
- dropped (no trainable token after truncation): {dataset["droppedExamples"]}

## Training

- method: {method}
- epochs {hp.epochs}, learning rate {hp.learning_rate}, global batch {plan.global_batch}
  (micro {plan.micro_batch} x accumulation {plan.grad_accum} x world {plan.world_size})
- max sequence length {hp.max_seq_length}, packing {hp.packing}, seed {hp.seed}
- DeepSpeed ZeRO-{spec.deepspeed.zero_stage}, offload {spec.deepspeed.offload}

## Metrics

Loss counts only completion / assistant tokens (see the trainer docs); perplexity = exp(eval loss).

| metric | value |
|---|---|
{rows}

## Files

Weights: {layout}. Tokenizer and chat template at the top level. `metrics.json` has the full
history, `loss.png` the curves, `manifest.json` the sha256 of every file and the provenance.
"""


def _merge(base_dir: Path, adapter_dir: Path, out: Path, tokenizer: Any) -> None:
    """Merged full weights from the base model and the saved adapter (fresh, on the CPU)."""
    base = AutoModelForCausalLM.from_pretrained(base_dir, use_safetensors=True)
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
    dataset: dict[str, Any],
    plan: BatchPlan,
    ds_config: dict[str, Any],
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
        _point_adapter_at(out / "adapter" / "adapter_config.json", spec.base_model.uri)
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
                "acceleration": acceleration,
                "history": history,
            },
            indent=1,
        )
    )
    loss_plot(history, out / "loss.png")
    card = model_card(job, metrics, dataset, plan)
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
        "baseModel": {"uri": spec.base_model.uri, "sha256": tree_digest(file_entries(model_files))},
        "dataset": {
            "train": {"uri": spec.dataset.train, "sha256": sha256_file(Path(files.raw_train))},
            **(
                {"eval": {"uri": spec.dataset.eval, "sha256": sha256_file(Path(files.raw_eval))}}
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
    output = S3Uri.parse(spec.output.uri)
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
    output = S3Uri.parse(job.spec.output.uri)
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


def _point_adapter_at(config_path: Path, base_uri: str) -> None:
    """PEFT records the local download dir as the base model; record the S3 source instead."""
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = base_uri
    config_path.write_text(json.dumps(config, indent=2))
