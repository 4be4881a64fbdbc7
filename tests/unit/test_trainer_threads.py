"""Thread pools and tokeniser processes sized from the pod's CPU allotment (``config``)."""

from __future__ import annotations

import pytest

from finetune_trainer.config import set_thread_env, threads_per_rank, tokenizer_processes


@pytest.mark.parametrize(
    ("env", "threads"),
    [
        ({}, None),
        ({"FINETUNE_CPUS": "4"}, 4),
        ({"FINETUNE_CPUS": "8", "NPROC_PER_NODE": "2"}, 4),
        ({"FINETUNE_CPUS": "3", "NPROC_PER_NODE": "2"}, 1),
        ({"FINETUNE_CPUS": "1", "NPROC_PER_NODE": "8"}, 1),
    ],
    ids=["outside-a-pod", "one-rank", "split-over-ranks", "rounded-down", "at-least-one"],
)
def test_threads_per_local_rank(env: dict[str, str], threads: int | None) -> None:
    assert threads_per_rank(env) == threads


def test_thread_env_reaches_openmp_and_torchrun_children() -> None:
    env = {"FINETUNE_CPUS": "6", "NPROC_PER_NODE": "2", "OMP_NUM_THREADS": "1"}
    assert set_thread_env(env) == 3
    assert (env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"]) == ("3", "3")


def test_no_allotment_leaves_the_env_alone() -> None:
    env = {"OMP_NUM_THREADS": "2"}
    assert set_thread_env(env) is None
    assert env == {"OMP_NUM_THREADS": "2"}


def test_a_malformed_allotment_names_the_variable() -> None:
    with pytest.raises(ValueError, match=r"FINETUNE_CPUS='2\.5'"):
        threads_per_rank({"FINETUNE_CPUS": "2.5"})


@pytest.mark.parametrize(
    ("env", "examples", "processes"),
    [
        ({}, 100_000, None),
        ({"FINETUNE_CPUS": "8"}, 1_000, None),
        ({"FINETUNE_CPUS": "8"}, 6_000, 3),
        ({"FINETUNE_CPUS": "8", "NPROC_PER_NODE": "8"}, 100_000, 8),
        ({"FINETUNE_CPUS": "1"}, 100_000, None),
    ],
    ids=["outside-a-pod", "too-few-examples", "one-per-2000", "whole-pod-not-a-rank", "one-cpu"],
)
def test_tokenizer_processes(env: dict[str, str], examples: int, processes: int | None) -> None:
    assert tokenizer_processes(env, examples) == processes
