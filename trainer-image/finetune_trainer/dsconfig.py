"""The DeepSpeed config, generated from the job spec as a pure function.

The batch arithmetic is explicit rather than left to DeepSpeed's "auto" values: the HF Trainer
fills "auto" from its own idea of the world size, which on CPU runs under torchrun used to be 1
while DeepSpeed saw 2. Writing the numbers out makes a mismatch fail loudly at start-up instead
of silently training on the wrong batch. Impossible offload settings never get here: the job
model (and the CRD) refuse them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finetune_api.jobspec import DeepSpeed
from finetune_trainer.errors import InvalidConfig

DEFAULT_MAX_MICRO_BATCH = 4
"""Largest per-device batch chosen when the spec leaves microBatchSize unset (memory-safe)."""

MAX_GRAD_NORM = 1.0
"""Gradient clipping; the same number goes to TrainingArguments.max_grad_norm."""


@dataclass(frozen=True)
class BatchPlan:
    """How a global batch splits over devices: global = micro x grad_accum x world."""

    global_batch: int
    micro_batch: int
    grad_accum: int
    world_size: int


def plan_batch(global_batch: int, world_size: int, micro_batch: int | None = None) -> BatchPlan:
    """Split the global batch; raise InvalidConfig, naming the numbers, when it cannot be exact."""
    if world_size < 1:
        raise InvalidConfig(f"world size must be at least 1, got {world_size}")
    if micro_batch is not None:
        per_step = micro_batch * world_size
        if global_batch % per_step:
            raise InvalidConfig(
                f"batchSize {global_batch} is not divisible by microBatchSize {micro_batch} "
                f"x world size {world_size} = {per_step}"
            )
        return BatchPlan(global_batch, micro_batch, global_batch // per_step, world_size)
    if global_batch % world_size:
        raise InvalidConfig(
            f"batchSize {global_batch} is not divisible by the world size {world_size} "
            "(numNodes x devices per node); choose a multiple of it"
        )
    per_rank = global_batch // world_size
    micro = max(
        d for d in range(1, min(per_rank, DEFAULT_MAX_MICRO_BATCH) + 1) if per_rank % d == 0
    )
    return BatchPlan(global_batch, micro, per_rank // micro, world_size)


def uses_deepspeed(spec: DeepSpeed, world_size: int) -> bool:
    """Whether the run goes through DeepSpeed, or the Hugging Face Trainer's plain loop.

    One process has nothing to shard: ZeRO-1 and -2 then only add DeepSpeed's engine around
    the same torch AdamW (measured on two CPU cores: slower, and its checkpoint carried the
    frozen base). ZeRO-3 and offload still change where weights and optimizer states live, so a
    spec asking for them keeps DeepSpeed at any world size.
    """
    return world_size > 1 or spec.zero_stage == 3 or spec.offload != "none"


def build_ds_config(
    spec: DeepSpeed, plan: BatchPlan, *, bf16: bool, fp16: bool = False
) -> dict[str, Any]:
    """The DeepSpeed config for one run."""
    zero: dict[str, Any] = {
        "stage": spec.zero_stage,
        "overlap_comm": False,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
    }
    if spec.zero_stage == 3:
        zero |= {
            "stage3_prefetch_bucket_size": "auto",
            "stage3_param_persistence_threshold": "auto",
            # Without it, save_model under ZeRO-3 writes empty tensors (peft#453).
            "stage3_gather_16bit_weights_on_model_save": True,
        }
    if spec.offload in ("optimizer", "all"):
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if spec.offload == "all":
        zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    config: dict[str, Any] = {
        "train_batch_size": plan.global_batch,
        "train_micro_batch_size_per_gpu": plan.micro_batch,
        "gradient_accumulation_steps": plan.grad_accum,
        "gradient_clipping": MAX_GRAD_NORM,
        "bf16": {"enabled": bf16},
        "fp16": {"enabled": fp16},
        "zero_optimization": zero,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if spec.offload != "none":
        # Offloaded optimizer states need DeepSpeed's CPU Adam; the HF optimizer would be refused.
        config["optimizer"] = {
            "type": "AdamW",
            "params": {"lr": "auto", "betas": "auto", "eps": "auto", "weight_decay": "auto"},
        }
    return config
