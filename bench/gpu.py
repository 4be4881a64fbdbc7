"""GPU throughput and MFU of the trainer's choices against TRL's defaults, on the same data.

Run by ``bench/gpu.sh`` on a machine with one GPU (docs/benchmarks.md); ``--dry-run`` runs the
same code tiny on the CPU, to check it where there is no GPU. Workloads, in one run:

- **lora-135m**: SmolLM2-135M's shape (random weights), LoRA r=16 on all linear layers;
- **full-1b**: SmolLM2-1.7B's layer shape with 14 of its 24 layers (1.0 B parameters, random
  weights), full fine-tune.

Each workload trains twice on the same pre-tokenized random sequences (lengths long-tailed,
as chat data is):

- **trl-defaults**: ``SFTConfig`` with only the batch, steps, ``max_length`` and the LoRA
  config set: TRL's own defaults for everything else (precision, attention, no packing,
  activation checkpointing on);
- **ours**: the trainer's choices: ``finetune_trainer.accel`` (precision, attention kernel,
  padding-free, Liger), packing on, activation checkpointing off;
- **ours-unpacked**: the same without packing (padded batches): what padding-free packing buys.
  (TRL's BFD packing flattens a micro-batch into one row; the attention kernel must keep its
  sequences apart cheaply, which FlashAttention's varlen kernel and flex attention's block
  mask do and SDPA's dense mask does not: docs/benchmarks.md has the measured cost.)

Real tokens (no padding) per second are counted after ``--warmup`` steps; MFU is
real tokens/s x FLOPs per token / the device's bf16 peak (``--peak-tflops``, 788 for an H200
as measured by a bf16 8192^3 matrix product). FLOPs per token: 6 N for a full fine-tune, 4 N
for LoRA (the frozen weights need no weight gradients), N the parameters the matrix products
touch (embedding lookups excluded, the LM head included); attention's own FLOPs are left out,
so MFU is a lower bound. DeepSpeed is left out: on one GPU ZeRO shards nothing, and the GPU
machine has no DeepSpeed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import random
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PEAK_TFLOPS = 788.0
"""bf16 matrix-product peak of one H200, measured (an 8192^3 product on random data)."""


@dataclass(frozen=True)
class Shape:
    """A Llama-family model shape (SmolLM2's)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int = 49152


@dataclass(frozen=True)
class Workload:
    name: str
    shape: Shape
    lora: bool
    micro_batch: int
    max_length: int
    steps: int
    warmup: int
    examples: int


SMOLLM2_135M = Shape(hidden=576, layers=30, heads=9, kv_heads=3, intermediate=1536)
SMOLLM2_1B = Shape(hidden=2048, layers=14, heads=32, kv_heads=32, intermediate=8192)
TINY = Shape(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, vocab=512)

WORKLOADS = (
    Workload("lora-135m", SMOLLM2_135M, lora=True, micro_batch=16, max_length=2048, steps=60,
             warmup=10, examples=4000),
    Workload("full-1b", SMOLLM2_1B, lora=False, micro_batch=8, max_length=2048, steps=40,
             warmup=8, examples=2000),
)  # fmt: skip
DRY_RUN = (
    Workload("lora-135m", TINY, lora=True, micro_batch=4, max_length=128, steps=4, warmup=1,
             examples=64),
    Workload("full-1b", TINY, lora=False, micro_batch=4, max_length=128, steps=4, warmup=1,
             examples=64),
)  # fmt: skip
VARIANTS = ("trl-defaults", "ours", "ours-unpacked")


@dataclass
class Result:
    workload: str
    variant: str
    parameters: int
    trainable: int
    timed_steps: int
    real_tokens: int
    seconds: float
    tokens_per_second: float
    mfu: float
    peak_memory_gib: float
    choices: dict[str, Any] = field(default_factory=dict)


def build_model(shape: Shape, directory: Path) -> Path:
    """Random weights of the shape, saved as safetensors in bf16."""
    import torch  # noqa: PLC0415 (heavy)
    from transformers import LlamaConfig, LlamaForCausalLM  # noqa: PLC0415

    config = LlamaConfig(
        vocab_size=shape.vocab,
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads,
        max_position_embeddings=8192,
        rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        dtype="bfloat16",
    )
    torch.manual_seed(0)
    model: Any = LlamaForCausalLM(config)
    model.to(dtype=torch.bfloat16).save_pretrained(directory)
    return directory


def build_tokenizer(vocab: int) -> Any:
    """A word-level tokenizer over ``vocab`` ids: the data is pre-tokenized, TRL only needs its
    pad and end-of-sequence tokens."""
    from tokenizers import Tokenizer, models  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    words = {"<pad>": 0, "<s>": 1, "</s>": 2} | {f"w{i}": i for i in range(3, vocab)}
    tokenizer = Tokenizer(models.WordLevel(words, unk_token="<pad>"))
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )


def build_dataset(workload: Workload, seed: int = 0) -> Any:
    """Pre-tokenized sequences, lengths long-tailed (most short, a few near ``max_length``)."""
    from datasets import Dataset  # noqa: PLC0415

    rng = random.Random(seed)
    vocab = workload.shape.vocab
    rows = []
    for _ in range(workload.examples):
        length = min(workload.max_length, max(16, int(rng.paretovariate(1.2) * 96)))
        rows.append({"input_ids": [rng.randrange(3, vocab) for _ in range(length - 1)] + [2]})
    return Dataset.from_list(rows)


def matmul_parameters(model: Any) -> int:
    """Parameters the matrix products touch: all but the embedding lookup (the tied LM head
    is a product and counts once)."""
    embedding = model.get_input_embeddings().weight.numel()
    total = sum(p.numel() for p in model.parameters())
    return int(total - embedding + model.get_output_embeddings().weight.numel())


class Meter:
    """Counts real tokens per step at the collator; the clock starts after the warm-up steps."""

    def __init__(self, collator: Any, warmup: int) -> None:
        self.collator = collator
        self.warmup = warmup
        self.batches = 0
        self.tokens = 0
        self.started: float | None = None

    def __call__(self, examples: list[dict[str, Any]]) -> Any:
        batch = self.collator(examples)
        self.batches += 1
        if self.batches == self.warmup + 1:
            _synchronize()
            self.started = time.perf_counter()
        if self.batches > self.warmup:
            labels = batch["labels"]
            self.tokens += int((labels != -100).sum())
        return batch


def _synchronize() -> None:
    import torch  # noqa: PLC0415

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run_variant(
    workload: Workload, variant: str, model_dir: Path, out_dir: Path, peak_tflops: float
) -> Result:
    """Train ``workload.steps`` steps with one variant; returns its throughput."""
    import torch  # noqa: PLC0415
    from peft import LoraConfig  # noqa: PLC0415
    from transformers import AutoModelForCausalLM  # noqa: PLC0415
    from trl.trainer.sft_config import SFTConfig  # noqa: PLC0415
    from trl.trainer.sft_trainer import SFTTrainer  # noqa: PLC0415

    from finetune_api.jobspec import parse_job  # noqa: PLC0415
    from finetune_trainer.accel import for_this_machine  # noqa: PLC0415

    job = parse_job(
        {
            "apiVersion": "finetune.dev/v1alpha1",
            "kind": "FineTuneJob",
            "metadata": {"name": "bench-gpu"},
            "spec": {
                "baseModel": {"uri": "s3://bench/model/"},
                "dataset": {"train": "s3://bench/train.jsonl"},
                "output": {"uri": "s3://bench/out/"},
                "hyperparameters": {"packing": True, "maxSeqLength": workload.max_length},
            },
        }
    )
    common: dict[str, Any] = {
        "output_dir": str(out_dir),
        "per_device_train_batch_size": workload.micro_batch,
        "max_steps": workload.steps,
        "max_length": workload.max_length,
        "learning_rate": 1e-4 if workload.lora else 1e-5,
        "logging_steps": 10**6,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "seed": 0,
    }
    if not torch.cuda.is_available():
        # TRL's default bf16 is refused on a CPU unless it is asked for by name (dry run).
        common["use_cpu"] = True
    choices: dict[str, Any] = {}
    model_options: dict[str, Any] = {}
    dtype = "auto"
    if variant != "trl-defaults":
        accel = for_this_machine(job.spec)
        choices = accel.record()
        packing = variant == "ours"
        common |= accel.sft_options() | {"packing": packing, "gradient_checkpointing": False}
        # TRL turns padding-free on with packing; without packing it refuses it (max_length).
        common["padding_free"] = accel.padding_free and packing
        model_options = accel.model_options()
        dtype = accel.weights_dtype()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, **model_options)
    parameters = matmul_parameters(model)
    peft_config = (
        LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
        if workload.lora
        else None
    )
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**common),
        train_dataset=build_dataset(workload),
        processing_class=build_tokenizer(workload.shape.vocab),
        peft_config=peft_config,
    )
    meter = Meter(trainer.data_collator, workload.warmup)
    trainer.data_collator = meter
    trained: Any = trainer.model
    trainable = int(sum(p.numel() for p in trained.parameters() if p.requires_grad))
    trainer.train()
    _synchronize()
    assert meter.started is not None, "fewer steps than the warm-up"
    seconds = time.perf_counter() - meter.started
    tokens_per_second = meter.tokens / seconds
    flops_per_token = (4 if workload.lora else 6) * parameters
    memory = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0
    return Result(
        workload=workload.name,
        variant=variant,
        parameters=parameters,
        trainable=trainable,
        timed_steps=workload.steps - workload.warmup,
        real_tokens=meter.tokens,
        seconds=round(seconds, 3),
        tokens_per_second=round(tokens_per_second, 1),
        mfu=round(tokens_per_second * flops_per_token / (peak_tflops * 1e12), 4),
        peak_memory_gib=round(memory, 2),
        choices=choices,
    )


def machine() -> dict[str, Any]:
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415
    import trl  # noqa: PLC0415

    from finetune_trainer.accel import installed_packages  # noqa: PLC0415

    return {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "optional_packages": sorted(installed_packages()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes, a few CPU steps")
    parser.add_argument("--peak-tflops", type=float, default=DEFAULT_PEAK_TFLOPS)
    parser.add_argument("--workloads", nargs="+", choices=[w.name for w in WORKLOADS])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--micro-batch", type=int, help="override every workload's micro-batch (MFU vs batch)"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    chosen = args.workloads or [w.name for w in WORKLOADS]
    workloads = [w for w in (DRY_RUN if args.dry_run else WORKLOADS) if w.name in chosen]
    if args.micro_batch:
        workloads = [dataclasses.replace(w, micro_batch=args.micro_batch) for w in workloads]
    if not args.dry_run:
        import torch  # noqa: PLC0415

        if not torch.cuda.is_available():
            parser.error("no CUDA device: run with --dry-run for the CPU check")
    report: dict[str, Any] = {
        "benchmark": "gpu",
        "dry_run": args.dry_run,
        "peak_tflops": args.peak_tflops,
        "machine": machine(),
        "micro_batch_override": args.micro_batch,
        "results": [],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        for workload in workloads:
            model_dir = build_model(workload.shape, Path(tmp) / workload.name)
            for variant in args.variants:
                print(f"--- {workload.name} {variant}", flush=True)
                try:
                    result = run_variant(
                        workload, variant, model_dir, Path(tmp) / "run", args.peak_tflops
                    )
                    entry = asdict(result)
                except Exception as error:  # one failed variant must not cost the others
                    traceback.print_exc()
                    entry = {"workload": workload.name, "variant": variant, "error": repr(error)}
                print(json.dumps(entry), flush=True)
                report["results"].append(entry)
                # Written after each variant: a run cut short still leaves what it measured.
                args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
