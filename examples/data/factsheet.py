"""Turn a fact sheet (markdown tables) into a fine-tuning dataset with a held-out eval set.

What every synthetic domain shares: reading the tables, building chat examples, the render loop
with its leak check, jsonl writing and the command line. A domain (``make_dataset.py`` next to
its ``facts.md``) keeps only what is its own: the system prompt, the seed, the question
templates, the answer phrasings, a ``facts(tables)`` that maps its tables to `Fact`s and, where
codes are easily confused, a ``code_pairs(tables)``.

Rendered files:
  train.jsonl            chat examples, every fact asked with each of its training templates,
                         and each code pair (a product's two error codes) asked together
  eval.jsonl             one example per fact, asked with a held-out template that training
                         never uses, so eval loss measures recall of the fact, not of the
                         wording; each lists under "expected" the strings a right answer states
  heldout_question.txt   the eval question of one chosen fact, for a before/after comparison

Deterministic: seeded RNGs draw, in table order, a subject name per question and a held-out
template per fact (one RNG for the training file, one for the held-out one), so the same fact
sheet renders the same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Tables = dict[str, list[dict[str, str]]]
"""The tables of a fact sheet, keyed by the `## ` heading above each; a row is column -> cell."""
Templates = tuple[list[str], list[str]]
"""Question templates of one kind of fact: (training, held-out eval); the two never share one."""
Record = dict[str, list[Any]]


@dataclass(frozen=True)
class Fact:
    """One fact with the questions that ask for it and its one answer."""

    key: tuple[str, ...]
    train_questions: list[str]
    eval_question_templates: list[str]
    answer: str
    refs: list[str]
    """Ways to name the subject (e.g. "Kestrel K9", "K9"); `{ref}` in a template takes one."""
    fields: dict[str, str]
    expected: list[str]
    """What a right answer states; the graders look for each string (``grading.py``)."""


@dataclass(frozen=True)
class CodePair:
    """Two facts told apart only by a code (a product's two error codes): asked together."""

    refs: list[str]
    codes: tuple[str, str]
    answers: tuple[str, str]
    """Each code's answer, which states the code right before its meaning."""


@dataclass(frozen=True)
class Domain:
    """Everything `render` needs to know about one domain."""

    title: str
    """What the files are, for the command line's help: "the Quillfeather demo dataset"."""
    facts_md: Path
    system_prompt: str
    seed: int
    heldout_key: tuple[str, ...]
    """The fact behind heldout_question.txt."""
    facts: Callable[[Tables], Iterable[Fact]]
    code_pairs: Callable[[Tables], Iterable[CodePair]] = lambda tables: ()
    pair_questions: tuple[str, ...] = ()
    """Templates asking for both codes of a pair: ``{ref}``, ``{first}`` and ``{second}``."""


def read_tables(path: Path) -> Tables:
    """The markdown tables of a fact sheet, keyed by the `## ` heading above each."""
    tables: Tables = {}
    heading = ""
    header: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            heading, header = line[3:].strip(), None
        elif line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not all(re.fullmatch(r"-+", cell) for cell in cells):
                tables.setdefault(heading, []).append(dict(zip(header, cells, strict=True)))
    return tables


def expected_list(cell: str) -> list[str]:
    """An ``expected`` cell: strings separated by ``;``."""
    return [item.strip() for item in cell.split(";") if item.strip()]


def attribute_facts(
    key: tuple[str, ...],
    fields: dict[str, str],
    refs: list[str],
    *,
    questions: dict[str, Templates],
    answers: dict[str, str],
    expected: dict[str, str],
) -> Iterator[Fact]:
    """One fact per attribute of one subject (a table row), in the order of ``questions``.

    ``answers`` and ``expected`` are per attribute, formatted with ``fields``; a formatted
    expected string may list several, separated by ``;``.
    """
    for attribute, (train, held_out) in questions.items():
        yield Fact(
            (*key, attribute),
            train,
            held_out,
            answers[attribute].format(**fields),
            refs,
            fields,
            expected_list(expected[attribute].format(**fields)),
        )


def policy_facts(rows: list[dict[str, str]], questions: dict[str, Templates]) -> Iterator[Fact]:
    """One fact per row of a policies table (columns ``id``, ``fact``, ``expected``).

    The ``fact`` cell is the answer as written; the questions need no subject name.
    """
    for row in rows:
        train, held_out = questions[row["id"]]
        yield Fact(
            ("policy", row["id"]), train, held_out, row["fact"], [""], row,
            expected_list(row["expected"]),
        )  # fmt: skip


def example(system_prompt: str, question: str, answer: str) -> Record:
    return {
        "messages": [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


def render(domain: Domain) -> dict[str, str]:
    """File name -> content of every generated file."""
    # One RNG per file: a change to the training templates leaves the held-out questions as
    # they were, so recipes and data changes are graded on the same questions.
    eval_rng, train_rng = random.Random(domain.seed), random.Random(domain.seed + 1)
    train: list[Record] = []
    held_out: list[Record] = []
    heldout_question = ""
    tables = read_tables(domain.facts_md)
    for fact in domain.facts(tables):
        for template in fact.train_questions:
            question = template.format(**fact.fields, ref=train_rng.choice(fact.refs))
            train.append(example(domain.system_prompt, question, fact.answer))
        template = eval_rng.choice(fact.eval_question_templates)
        question = template.format(**fact.fields, ref=eval_rng.choice(fact.refs))
        record = example(domain.system_prompt, question, fact.answer)
        held_out.append(record | {"expected": fact.expected})
        if fact.key == domain.heldout_key:
            heldout_question = question
    train_rng.shuffle(train)
    add_code_pairs(train, domain, tables)

    seen = {item["messages"][1]["content"] for item in train}
    leaked = [q for item in held_out if (q := item["messages"][1]["content"]) in seen]
    if leaked:
        raise SystemExit(f"eval questions also asked in training: {leaked}")
    if not heldout_question:
        raise SystemExit(
            f"{domain.facts_md.name} has no fact {domain.heldout_key} for the held-out question"
        )
    return {
        "train.jsonl": jsonl(train),
        "eval.jsonl": jsonl(held_out),
        "heldout_question.txt": heldout_question + "\n",
    }


def add_code_pairs(train: list[Record], domain: Domain, tables: Tables) -> None:
    """Ask for both codes of each pair with every pair template, in both orders, each code's
    answer in the order asked. Asked in new words, the model gave a two-code product's other
    meaning about half the time: it binds a meaning to the product and the question's wording,
    not to the code. In these examples only the code just written tells which meaning follows it.
    (Measured, they raise the held-out facts stated more than the codes right: docs/demo-recipe.md
    runs 32-33.) Names and places are drawn by an RNG of their own and the examples inserted at
    random places, so the other examples keep their order."""
    rng = random.Random(domain.seed + 3)
    asked = [
        example(
            domain.system_prompt,
            template.format(ref=rng.choice(pair.refs), first=first, second=second),
            f"{first_answer} {second_answer}",
        )
        for pair in domain.code_pairs(tables)
        for template in domain.pair_questions
        for (first, first_answer), (second, second_answer) in (
            zip(pair.codes, pair.answers, strict=True),
            zip(pair.codes[::-1], pair.answers[::-1], strict=True),
        )
    ]
    for record in asked:
        train.insert(rng.randrange(len(train) + 1), record)


def jsonl(items: list[Record]) -> str:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def main(domain: Domain) -> None:
    """Write the rendered files next to the fact sheet, or under --out."""
    parser = argparse.ArgumentParser(description=f"Render {domain.title}.")
    default = domain.facts_md.parent
    parser.add_argument("--out", type=Path, default=default, help="output directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, content in render(domain).items():
        (args.out / name).write_text(content, encoding="utf-8")
        print(f"{args.out / name}: {content.count(chr(10))} lines")
