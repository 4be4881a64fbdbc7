"""How `make bench` schedules its runs (bench/trainer_throughput.py)."""

from __future__ import annotations

import pytest
from bench.trainer_throughput import cpu_slots, rotated, schedule

VARIANTS = ["trainer", "hf", "trl"]


def test_each_round_rotates_the_order() -> None:
    assert [rotated(VARIANTS, r) for r in range(3)] == [
        ["trainer", "hf", "trl"],
        ["hf", "trl", "trainer"],
        ["trl", "trainer", "hf"],
    ]


def test_every_variant_runs_in_every_round() -> None:
    runs = schedule(VARIANTS, 3)
    assert len(runs) == 9
    for round_ in range(3):
        assert sorted(v for r, v in runs if r == round_) == sorted(VARIANTS)
    # Rounds run in order: no round starts before the previous one's runs were handed out.
    assert [r for r, _ in runs] == sorted(r for r, _ in runs)


def test_concurrent_runs_get_disjoint_cpus() -> None:
    assert cpu_slots(2, 1, [1, 0]) == [(0,), (1,)]
    assert cpu_slots(2, 2, [0, 1, 2, 3, 4]) == [(0, 1), (2, 3)]


def test_more_runs_than_cpus_is_refused_naming_the_flags() -> None:
    with pytest.raises(SystemExit, match="--parallel 3 x --threads 1 needs 3 CPUs"):
        cpu_slots(3, 1, [0, 1])
