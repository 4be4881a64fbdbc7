"""The committed demo dataset is what examples/data/make_dataset.py renders from facts.md."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from finetune_trainer import grading

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


def load_generator() -> ModuleType:
    # examples/ is not a package: load the script by path. dataclasses look their module up in
    # sys.modules, so register it while it executes.
    spec = importlib.util.spec_from_file_location("make_dataset", DATA / "make_dataset.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


RENDERED: dict[str, str] = load_generator().render()


def rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in RENDERED[name].splitlines()]


def test_committed_files_match_the_generator() -> None:
    for name, content in RENDERED.items():
        assert (DATA / name).read_text(encoding="utf-8") == content, (
            f"{name} is stale: run python examples/data/make_dataset.py"
        )


def test_generator_is_deterministic() -> None:
    assert load_generator().render() == RENDERED


def test_sizes_and_chat_shape() -> None:
    train, held_out = rows("train.jsonl"), rows("eval.jsonl")
    assert len(train) >= 300
    assert len(held_out) >= 40
    for row in train + held_out:
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert row["messages"][2]["content"].count(". ") <= 1, "answers stay 1-2 sentences"


def test_eval_questions_are_never_trained_on() -> None:
    trained = {row["messages"][1]["content"] for row in rows("train.jsonl")}
    assert not trained & {row["messages"][1]["content"] for row in rows("eval.jsonl")}
    assert RENDERED["heldout_question.txt"].strip() not in trained


def test_every_eval_answer_is_taught() -> None:
    taught = {row["messages"][2]["content"] for row in rows("train.jsonl")}
    assert {row["messages"][2]["content"] for row in rows("eval.jsonl")} <= taught


def test_every_eval_reference_states_its_expected_facts() -> None:
    """The graders accept the reference answer itself, so a tuned model can reach 100%."""
    for row in rows("eval.jsonl"):
        assert row["expected"], row
        reference = row["messages"][-1]["content"]
        assert grading.states_expected(reference, row["expected"]), (reference, row["expected"])
