"""What a trainer tells the operator: the progress report it serves while it runs, and the
summary it leaves as its container's termination message when it ends.

The trainer (or the stand-in) builds these models and writes ``wire()``; the operator parses
them back and mirrors them into status. Unknown fields are ignored on reading, so a newer trainer
may add some without breaking an older operator.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel


def rfc3339(moment: datetime) -> str:
    """The timestamps of reports and status: RFC 3339, UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339() -> str:
    return rfc3339(datetime.now(UTC))


class Record(BaseModel):
    """Base of the report and status models: camelCase on the wire, frozen, extras ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )

    def wire(self) -> dict[str, Any]:
        """The JSON object: camelCase, fields still unknown (None) absent."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Stage(StrEnum):
    """What global rank 0 is doing."""

    LOADING = "loading"
    """Fetching the model, data and newest checkpoint; building the trainer."""
    TRAINING = "training"
    """Optimizer steps (and the base model's evaluation at step 0)."""
    EVALUATING = "evaluating"
    PUBLISHING = "publishing"
    DONE = "done"


MAX_COUNT = 2**53
"""Upper bound of counts in reports (steps, seconds): exact in JSON everywhere, and far below
the int64 the apiserver stores, so a status write never fails on a trainer's number."""
MAX_TIMESTAMP_LENGTH = 64
"""RFC 3339 needs 20 to 35 characters; anything longer is not one."""
MAX_URI_LENGTH = 1024


class CheckpointRef(Record):
    """A complete, resumable checkpoint in S3."""

    uri: str = Field(max_length=MAX_URI_LENGTH)
    step: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    time: str | None = Field(default=None, max_length=MAX_TIMESTAMP_LENGTH)
    """RFC 3339."""


class Metrics(Record):
    """Loss and accuracy over completion/assistant tokens (docs/trainer.md says which)."""

    train_loss: float | None = None
    eval_loss: float | None = None
    eval_perplexity: float | None = None
    """exp(evalLoss)."""
    base_eval_loss: float | None = None
    """The base model's eval loss, before any update."""
    eval_token_accuracy: float | None = None
    answer_accuracy: float | None = None
    """Share of eval prompts answered right (``expected`` strings stated, else exact match)."""
    base_answer_accuracy: float | None = None
    answer_rouge_l: float | None = None
    base_answer_rouge_l: float | None = None
    answer_exact_match: float | None = None
    base_answer_exact_match: float | None = None
    answer_expected: float | None = None
    base_answer_expected: float | None = None


class DatasetStats(Record):
    """What validation counted, with the tokenizer and masks training will use."""

    train_examples: int | None = None
    eval_examples: int | None = None
    train_tokens: int | None = None
    truncated_examples: int | None = None
    dropped_examples: int | None = None
    format: str | None = None


COMMIT_SHA = r"^[0-9a-f]{40}$"
"""A Hub commit as the Hub names it: 40 lowercase hex digits."""


class BaseModelRef(Record):
    """The base model as validation found it: for an hf:// model, the commit its revision
    resolved to. The operator pins the training pods' job document to that commit, so a branch
    or tag that moves after validation does not change the model trained."""

    revision: str | None = Field(default=None, pattern=COMMIT_SHA)
    """The commit sha; absent for an S3 model."""


class OutputRef(Record):
    """The published result."""

    uri: str | None = None
    manifest: str | None = None
    """S3 URI of manifest.json, written last."""
    files: int | None = None
    """Number of files published."""


class ProgressReport(Record):
    """The body of ``GET /progress`` on global rank 0; fields unknown yet are absent.

    The bounds make the operator refuse a report it could not write into status (a negative
    step, a count past int64, a page of text as a timestamp); floats may be NaN or infinite
    (a diverging loss is news; the mirror leaves them out); timestamps stay text here and
    the operator's mirror normalises them (``status_mirror``), so a trainer with a wrong clock
    still reports its steps."""

    stage: Stage | None = None
    step: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    total_steps: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    epoch: float | None = None
    loss: float | None = None
    """The latest training loss."""
    tokens_per_second: float | None = None
    eta_seconds: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    updated_at: str | None = Field(default=None, max_length=MAX_TIMESTAMP_LENGTH)
    """RFC 3339; refreshed by a heartbeat, so a slow step does not look like a dead pod."""
    eval_loss: float | None = None
    base_eval_loss: float | None = None
    last_checkpoint: CheckpointRef | None = None


class FailureSummary(Record):
    ok: Literal[False] = False
    reason: str
    """A ``reasons.Reason``; typed as text so the operator shows a newer trainer's reason too."""
    message: str


class ValidateSummary(Record):
    ok: Literal[True] = True
    kind: Literal["validate"] = "validate"
    dataset: DatasetStats
    base_model: BaseModelRef | None = None
    """For an hf:// model; absent for S3, and from trainers older than this field (the training
    pods then resolve the revision themselves)."""


class TrainSummary(Record):
    """Global rank 0 reports metrics, output and step; other ranks only their rank."""

    ok: Literal[True] = True
    kind: Literal["train"] = "train"
    rank: int | None = None
    metrics: Metrics | None = None
    output: OutputRef | None = None
    step: int | None = None


Summary = FailureSummary | ValidateSummary | TrainSummary
"""A termination message."""

_SUMMARY: TypeAdapter[Summary] = TypeAdapter(Summary)


def parse_summary(message: str | bytes | None) -> Summary | None:
    """A termination message as a summary; None when absent, not JSON, or not a summary."""
    if not message:
        return None
    try:
        return _SUMMARY.validate_python(json.loads(message))
    except (ValueError, ValidationError):
        return None


def parse_time(stamp: str) -> datetime | None:
    """An RFC 3339 timestamp with its offset; None for anything else (no offset, a date alone,
    not a time at all). ``datetime.fromisoformat`` alone accepts forms the apiserver refuses."""
    if not 20 <= len(stamp) <= MAX_TIMESTAMP_LENGTH or stamp[10] not in "Tt":
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
