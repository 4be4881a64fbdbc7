"""Which variants `make bench` repeats after its first round (bench/trainer_throughput.py)."""

from __future__ import annotations

from bench.throughput_variants import Result
from bench.trainer_throughput import repeated_variants, rotated

VARIANTS = ["trainer", "hf", "trl"]


def _result(variant: str, train_seconds: float) -> Result:
    return Result(
        variant=variant,
        round=0,
        steps=12,
        real_tokens=9000,
        computed_tokens=10000,
        train_seconds=train_seconds,
        first_step_seconds=1.0,
        train_loss=1.0,
        peak_rss_mib=1.0,
        torch_threads=1,
        loadavg_end=1.0,
    )


def test_a_clearly_slower_baseline_runs_the_first_round_only() -> None:
    first = [_result("trainer", 100), _result("hf", 180), _result("trl", 280)]
    assert repeated_variants(VARIANTS, first) == ["trainer", "hf"]


def test_baselines_within_the_margin_are_both_repeated() -> None:
    # 180 s against 195 s: 0.92 of the faster rate, close enough to swap places in a later round
    first = [_result("trainer", 100), _result("hf", 195), _result("trl", 180)]
    assert repeated_variants(VARIANTS, first) == VARIANTS


def test_with_one_baseline_measured_nothing_is_dropped() -> None:
    first = [_result("trainer", 100), _result("trl", 280)]
    assert repeated_variants(["trainer", "trl"], first) == ["trainer", "trl"]


def test_each_round_rotates_the_order() -> None:
    assert [rotated(VARIANTS, r) for r in range(3)] == [
        ["trainer", "hf", "trl"],
        ["hf", "trl", "trainer"],
        ["trl", "trainer", "hf"],
    ]
