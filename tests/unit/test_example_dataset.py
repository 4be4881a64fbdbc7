"""The fact-sheet datasets: what every domain's generator renders, and the demo's committed copy.

Every property is checked on each domain of tests/support/domains.py: the demo's Quillfeather
Robotics (examples/data/, committed) and the second domain, Skerrow Sound Ferries
(tests/data/skerrow/, rendered when tested).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.support import domains

from finetune_trainer import grading

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"

RENDERED: dict[str, dict[str, str]] = {name: render() for name, render in domains.DOMAINS.items()}
MIN_SIZES = {"quillfeather": (300, 40), "skerrow": (150, 30)}
"""Per domain, the fewest (training, eval) examples its generator may render."""

each_domain = pytest.mark.parametrize("domain", sorted(domains.DOMAINS))


def rows(domain: str, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in RENDERED[domain][name].splitlines()]


def test_committed_files_match_the_generator() -> None:
    for name, content in RENDERED["quillfeather"].items():
        assert (DATA / name).read_text(encoding="utf-8") == content, (
            f"{name} is stale: run python examples/data/make_dataset.py"
        )


@each_domain
def test_generator_is_deterministic(domain: str) -> None:
    assert domains.DOMAINS[domain]() == RENDERED[domain]


@each_domain
def test_sizes_and_chat_shape(domain: str) -> None:
    train, held_out = rows(domain, "train.jsonl"), rows(domain, "eval.jsonl")
    min_train, min_eval = MIN_SIZES[domain]
    assert len(train) >= min_train
    assert len(held_out) >= min_eval
    for row in train + held_out:
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert row["messages"][2]["content"].count(". ") <= 1, "answers stay 1-2 sentences"


@each_domain
def test_eval_questions_are_never_trained_on(domain: str) -> None:
    trained = {row["messages"][1]["content"] for row in rows(domain, "train.jsonl")}
    assert not trained & {row["messages"][1]["content"] for row in rows(domain, "eval.jsonl")}
    assert RENDERED[domain]["heldout_question.txt"].strip() not in trained


@each_domain
def test_every_eval_answer_is_taught(domain: str) -> None:
    taught = {row["messages"][2]["content"] for row in rows(domain, "train.jsonl")}
    assert {row["messages"][2]["content"] for row in rows(domain, "eval.jsonl")} <= taught


@each_domain
def test_every_eval_reference_states_its_expected_facts(domain: str) -> None:
    """The graders accept the reference answer itself, so a tuned model can reach 100%."""
    for row in rows(domain, "eval.jsonl"):
        assert row["expected"], row
        reference = row["messages"][-1]["content"]
        assert grading.states_expected(reference, row["expected"]), (reference, row["expected"])


def test_the_domains_share_no_wording() -> None:
    """The second domain tests that the recipe carries over, so it must not reuse the demo's
    system prompt, questions or answers."""
    texts = {
        domain: {m["content"] for row in rows(domain, "train.jsonl") for m in row["messages"]}
        for domain in RENDERED
    }
    assert not texts["quillfeather"] & texts["skerrow"]


@each_domain
def test_code_pairs_are_asked_in_both_orders(domain: str) -> None:
    """Examples that ask for two codes answer them in the order asked, and each pair is asked
    in both orders: nothing but the code just written tells which meaning follows it."""
    code = re.compile(r"\b[EG]\d\d\b")
    asked: set[tuple[str, ...]] = set()
    for row in rows(domain, "train.jsonl"):
        question, answer = row["messages"][1]["content"], row["messages"][2]["content"]
        codes = tuple(code.findall(question))
        if len(codes) == 2 and answer.count(". ") == 1:
            assert tuple(code.findall(answer)) == codes, row
            asked.add(codes)
    assert asked, "no code pairs"
    assert {(b, a) for a, b in asked} == asked
