"""Answer-level evaluation: generate an answer to each eval prompt and grade it (``grading``).

The prompt of an eval record is every turn but the final assistant turn (chat), or the prompt
(prompt-completion); the reference is that final turn, or the completion. ``text`` records have
no prompt and are not graded. Decoding is greedy, batched, left-padded, and bounded by
``spec.evaluation.maxNewTokens`` and ``maxExamples``, so the base model and the tuned one answer
the same records under the same settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from finetune_trainer.grading import Grades, Scores, grade, score

BASE_ANSWERS_KEY = "base_answers"
"""The log-history entry holding the base model's answers (saved with every checkpoint)."""
GENERATION_BATCH = 16
"""Prompts decoded together; they are sorted by length first, so padding stays small."""

Prompt = str | list[dict[str, str]]


@dataclass(frozen=True)
class AnswerRecord:
    prompt: Prompt
    reference: str
    expected: tuple[str, ...] | None


def _text(content: Any) -> str:
    """A completion's text: a string, or (conversational) the content of its one message."""
    if isinstance(content, str):
        return content
    return "".join(str(message["content"]) for message in content)


def answer_record(row: dict[str, Any]) -> AnswerRecord | None:
    """The graded view of one eval row (any format the trainer loads); None for ``text``."""
    expected = row.get("expected")
    expected_tuple = tuple(expected) if expected else None
    if row.get("messages"):
        messages = row["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        turns = [{"role": m["role"], "content": m["content"]} for m in messages[:last]]
        return AnswerRecord(turns, messages[last]["content"], expected_tuple)
    if row.get("prompt") is not None and row.get("completion") is not None:
        prompt: Prompt = row["prompt"] if isinstance(row["prompt"], str) else list(row["prompt"])
        return AnswerRecord(prompt, _text(row["completion"]), expected_tuple)
    return None


def answer_records(rows: Iterable[dict[str, Any]], limit: int) -> list[AnswerRecord]:
    """The first ``limit`` gradeable rows, in dataset order."""
    records: list[AnswerRecord] = []
    for row in rows:
        record = answer_record(row)
        if record is not None:
            records.append(record)
            if len(records) == limit:
                break
    return records


def render_prompt(tokenizer: Any, prompt: Prompt) -> str:
    if isinstance(prompt, str):
        return prompt
    rendered: str = tokenizer.apply_chat_template(
        prompt, tokenize=False, add_generation_prompt=True
    )
    return rendered


@torch.no_grad()
def generate_answers(
    model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int, synced: bool
) -> list[str]:
    """Greedy answers to ``prompts``, in order.

    ``synced``: every rank calls this together (ZeRO-3 shards the weights, so each forward pass
    is collective); otherwise the caller's rank decodes alone.
    """
    saved_side, saved_training = tokenizer.padding_side, model.training
    tokenizer.padding_side = "left"  # new tokens must follow each prompt directly
    pad_id = tokenizer.eos_token_id if tokenizer.pad_token_id is None else tokenizer.pad_token_id
    device = next(model.parameters()).device
    model.eval()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers: dict[int, str] = {}
    try:
        for start in range(0, len(order), GENERATION_BATCH):
            batch = order[start : start + GENERATION_BATCH]
            encoded = tokenizer(
                [prompts[i] for i in batch],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,  # the chat template already has them
            ).to(device)
            output = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad_id,
                synced_gpus=synced,
            )
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            answers.update(zip(batch, (t.strip() for t in texts), strict=True))
    finally:
        tokenizer.padding_side = saved_side
        model.train(saved_training)
    return [answers[i] for i in range(len(prompts))]


@dataclass(frozen=True)
class AnswerEval:
    """Both models' answers to the same records, graded."""

    records: list[AnswerRecord]
    base_answers: list[str]
    tuned_answers: list[str]

    def grades(self, answers: Sequence[str]) -> list[Grades]:
        return [
            grade(answer, record.reference, record.expected)
            for answer, record in zip(answers, self.records, strict=True)
        ]

    @property
    def base(self) -> Scores:
        return score(self.grades(self.base_answers))

    @property
    def tuned(self) -> Scores:
        return score(self.grades(self.tuned_answers))

    def metrics(self) -> dict[str, float]:
        """The headline numbers of ``metrics.json`` and ``status.metrics``."""
        out = {
            "answerAccuracy": self.tuned.accuracy,
            "baseAnswerAccuracy": self.base.accuracy,
            "answerRougeL": self.tuned.rouge_l,
            "baseAnswerRougeL": self.base.rouge_l,
            "answerExactMatch": self.tuned.exact_match,
            "baseAnswerExactMatch": self.base.exact_match,
        }
        if self.tuned.expected is not None and self.base.expected is not None:
            out["answerExpected"] = self.tuned.expected
            out["baseAnswerExpected"] = self.base.expected
        return out

    def card_section(self, examples: int = 3) -> str:
        """The model card's base-vs-tuned table and a few answers side by side."""
        base, tuned = self.base, self.tuned
        rows = [
            ("answer accuracy", base.accuracy, tuned.accuracy),
            ("exact match", base.exact_match, tuned.exact_match),
            ("ROUGE-L F1", base.rouge_l, tuned.rouge_l),
        ]
        if base.expected is not None and tuned.expected is not None:
            rows.insert(1, ("states the expected facts", base.expected, tuned.expected))
        table = "\n".join(f"| {name} | {b:.1%} | {t:.1%} |" for name, b, t in rows)
        shown = []
        for record, base_answer, tuned_answer in list(
            zip(self.records, self.base_answers, self.tuned_answers, strict=True)
        )[:examples]:
            question = (
                record.prompt if isinstance(record.prompt, str) else record.prompt[-1]["content"]
            )
            shown.append(
                f"- **{question}**\n  - base: {base_answer}\n  - tuned: {tuned_answer}\n"
                f"  - reference: {record.reference}"
            )
        return (
            f"## Answers\n\nGreedy answers to {len(self.records)} eval prompts, graded against the "
            "references (accuracy: every `expected` string stated where a record lists them, "
            "exact match otherwise).\n\n| grader | base | tuned |\n|---|---|---|\n"
            f"{table}\n\n" + "\n".join(shown) + "\n\nEvery answer and grade: "
            "`eval/generations.jsonl`.\n"
        )

    def write_generations(self, path: Path) -> None:
        """``eval/generations.jsonl``: per record the prompt, reference, both answers and grades."""
        base_grades, tuned_grades = self.grades(self.base_answers), self.grades(self.tuned_answers)
        with open(path, "w", encoding="utf-8") as sink:
            for record, base, tuned, base_grade, tuned_grade in zip(
                self.records,
                self.base_answers,
                self.tuned_answers,
                base_grades,
                tuned_grades,
                strict=True,
            ):
                row = {
                    "prompt": record.prompt,
                    "reference": record.reference,
                    "expected": list(record.expected) if record.expected else None,
                    "baseAnswer": base,
                    "tunedAnswer": tuned,
                    "base": _grade_fields(base_grade),
                    "tuned": _grade_fields(tuned_grade),
                }
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")


def _grade_fields(grades: Grades) -> dict[str, Any]:
    return {
        "correct": grades.correct,
        "exactMatch": grades.exact_match,
        "expected": grades.expected,
        "rougeL": round(grades.rouge_l, 4),
    }


@dataclass(frozen=True)
class AnswerSession:
    """What one run grades: the records, and how every rank takes part in decoding."""

    records: list[AnswerRecord]
    max_new_tokens: int
    synced: bool
    """ZeRO-3: every rank decodes together; otherwise global rank 0 decodes alone."""
    is_main: bool

    def answers(self, model: Any, tokenizer: Any) -> list[str] | None:
        """The model's answers on global rank 0 (None elsewhere)."""
        if not (self.synced or self.is_main):
            return None
        prompts = [render_prompt(tokenizer, record.prompt) for record in self.records]
        answers = generate_answers(
            model, tokenizer, prompts, max_new_tokens=self.max_new_tokens, synced=self.synced
        )
        return answers if self.is_main else None


class BaseAnswers(TrainerCallback):
    """The base model answers the eval prompts before the first update.

    At step 0 a LoRA adapter is a no-op (B = 0) and full fine-tuning has not changed a weight,
    so these are the base model's answers, decoded by the same code and settings as the tuned
    model's. They go into the log history, which every checkpoint saves, so a resumed run
    still has them.
    """

    def __init__(self, trainer: Any, session: AnswerSession) -> None:
        self.trainer = trainer
        self.session = session

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        if state.global_step != 0 or base_answers(state.log_history) is not None:
            return
        answers = self.session.answers(self.trainer.model, self.trainer.processing_class)
        if answers is not None:
            # The history's type says floats; it is saved as JSON, which holds the list as well.
            entry: dict[str, Any] = {"step": 0, BASE_ANSWERS_KEY: answers}
            state.log_history.append(entry)


def base_answers(history: list[dict[str, Any]]) -> list[str] | None:
    found = [entry[BASE_ANSWERS_KEY] for entry in history if BASE_ANSWERS_KEY in entry]
    return list(found[0]) if found else None


def without_answers(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The log history as published: numbers only."""
    return [entry for entry in history if BASE_ANSWERS_KEY not in entry]
