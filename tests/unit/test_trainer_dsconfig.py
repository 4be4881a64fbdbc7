"""DeepSpeed config generation: batch arithmetic for any world size, stages and offload."""

from __future__ import annotations

import pytest

from finetune_api.jobspec import DeepSpeed
from finetune_trainer.dsconfig import BatchPlan, build_ds_config, plan_batch, uses_deepspeed
from finetune_trainer.errors import InvalidConfig


@pytest.mark.parametrize(
    ("global_batch", "world", "micro", "expected"),
    [
        (16, 1, None, BatchPlan(16, 4, 4, 1)),
        (16, 2, None, BatchPlan(16, 4, 2, 2)),
        (16, 4, None, BatchPlan(16, 4, 1, 4)),
        (16, 16, None, BatchPlan(16, 1, 1, 16)),
        (6, 2, None, BatchPlan(6, 3, 1, 2)),
        (14, 2, None, BatchPlan(14, 1, 7, 2)),
        (16, 2, 2, BatchPlan(16, 2, 4, 2)),
        (24, 3, 8, BatchPlan(24, 8, 1, 3)),
        (1, 1, None, BatchPlan(1, 1, 1, 1)),
    ],
)
def test_plan_batch(global_batch: int, world: int, micro: int | None, expected: BatchPlan) -> None:
    plan = plan_batch(global_batch, world, micro)
    assert plan == expected
    assert plan.micro_batch * plan.grad_accum * plan.world_size == global_batch


@pytest.mark.parametrize(
    ("global_batch", "world", "micro", "words"),
    [
        (16, 3, None, "not divisible by the world size 3"),
        (16, 2, 3, "microBatchSize 3 x world size 2 = 6"),
        (8, 16, None, "world size 16"),
        (8, 0, None, "at least 1"),
    ],
)
def test_plan_batch_refuses(global_batch: int, world: int, micro: int | None, words: str) -> None:
    with pytest.raises(InvalidConfig, match=words):
        plan_batch(global_batch, world, micro)


def test_every_world_size_divides_exactly() -> None:
    for world in range(1, 33):
        for global_batch in range(world, 257, world):
            plan = plan_batch(global_batch, world)
            assert plan.micro_batch * plan.grad_accum * world == global_batch
            assert 1 <= plan.micro_batch <= 4


def test_zero2_config_is_explicit() -> None:
    config = build_ds_config(DeepSpeed(zero_stage=2), BatchPlan(16, 4, 2, 2), bf16=False)
    assert config["train_batch_size"] == 16
    assert config["train_micro_batch_size_per_gpu"] == 4
    assert config["gradient_accumulation_steps"] == 2
    assert config["bf16"] == {"enabled": False}
    assert config["zero_optimization"]["stage"] == 2
    assert "offload_optimizer" not in config["zero_optimization"]
    assert "optimizer" not in config, "without offload the HF optimizer is used"


def test_zero3_gathers_weights_on_save() -> None:
    config = build_ds_config(DeepSpeed(zero_stage=3), BatchPlan(8, 8, 1, 1), bf16=True)
    zero = config["zero_optimization"]
    assert zero["stage3_gather_16bit_weights_on_model_save"] is True
    assert config["bf16"] == {"enabled": True}


@pytest.mark.parametrize(
    ("stage", "offload", "optimizer", "param"),
    [(1, "optimizer", True, False), (2, "optimizer", True, False), (3, "all", True, True)],
)
def test_offload(stage: int, offload: str, optimizer: bool, param: bool) -> None:
    spec = DeepSpeed.model_validate({"zeroStage": stage, "offload": offload})
    config = build_ds_config(spec, BatchPlan(8, 8, 1, 1), bf16=True)
    zero = config["zero_optimization"]
    assert ("offload_optimizer" in zero) is optimizer
    assert ("offload_param" in zero) is param
    assert config["optimizer"]["type"] == "AdamW"


@pytest.mark.parametrize(
    ("stage", "offload", "world", "expected"),
    [
        (0, "none", 1, False),
        (2, "none", 1, False),
        (2, "optimizer", 1, True),
        (3, "none", 1, True),
        (0, "none", 2, True),
        (2, "none", 4, True),
    ],
    ids=["zero0-alone", "zero2-alone", "offload-alone", "zero3-alone", "zero0-two", "zero2-four"],
)
def test_deepspeed_only_where_it_changes_something(
    stage: int, offload: str, world: int, expected: bool
) -> None:
    """One process without offload or ZeRO-3 has nothing to shard: the plain loop trains it."""
    spec = DeepSpeed.model_validate({"zeroStage": stage, "offload": offload})
    assert uses_deepspeed(spec, world) is expected


def test_fp16_run_enables_deepspeed_loss_scaling() -> None:
    config = build_ds_config(DeepSpeed(zero_stage=2), BatchPlan(8, 8, 1, 1), bf16=False, fp16=True)
    assert config["fp16"] == {"enabled": True}
    assert config["bf16"] == {"enabled": False}
