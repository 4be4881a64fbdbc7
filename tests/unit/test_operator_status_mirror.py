"""The trainer's reports mirrored into status fields: finite numbers only, percent derived."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from finetune_api.reports import (
    CheckpointRef,
    Metrics,
    OutputRef,
    ProgressReport,
    Stage,
    TrainSummary,
    ValidateSummary,
    parse_summary,
)
from finetune_api.status import accuracy_text
from finetune_operator import status_mirror

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def test_progress_fields_drop_non_finite_and_compute_percent() -> None:
    report = ProgressReport(
        step=5, total_steps=20, tokens_per_second=math.nan, epoch=0.25, stage=Stage.TRAINING
    )
    assert status_mirror.progress_fields(report, NOW) == {
        "step": 5,
        "totalSteps": 20,
        "epoch": 0.25,
        "stage": "training",
        "percent": 25,
    }
    assert status_mirror.metrics_from_progress(ProgressReport(loss=math.inf)) == {}


def test_eval_loss_brings_its_perplexity() -> None:
    metrics = status_mirror.metrics_from_progress(ProgressReport(loss=1.5, eval_loss=1.0))
    assert metrics == {"trainLoss": 1.5, "evalLoss": 1.0, "evalPerplexity": 2.718}


def test_metrics_are_rounded_for_people() -> None:
    summary = TrainSummary(
        metrics=Metrics(
            eval_loss=0.7842440783977509, answer_accuracy=0.9130434782608695, train_loss=math.nan
        )
    )
    assert status_mirror.final_metrics(summary) == {"evalLoss": 0.7842, "answerAccuracy": 0.913}


@pytest.mark.parametrize(
    ("base", "tuned", "column"),
    [
        (0.0, 0.8115942028985508, "0% → 81%"),
        (None, 0.913, "91%"),  # no base model graded
        (0.25, None, None),  # nothing to show until the tuned model is graded
        (None, None, None),
    ],
)
def test_accuracy_column_is_whole_percents(
    base: float | None, tuned: float | None, column: str | None
) -> None:
    metrics = Metrics(base_answer_accuracy=base, answer_accuracy=tuned)
    assert accuracy_text(metrics) == column


def test_output_files_as_count() -> None:
    summary = TrainSummary(output=OutputRef(uri="s3://b/o/", files=7))
    assert status_mirror.output_fields(summary) == {"uri": "s3://b/o/", "files": 7}


@pytest.mark.parametrize(
    ("reported", "mirrored"),
    [
        ("2026-11-28T11:59:58Z", "2026-11-28T11:59:58Z"),
        ("2026-11-28T13:59:58+02:00", "2026-11-28T11:59:58Z"),
        ("2026-11-28T11:59:58.123456Z", "2026-11-28T11:59:58Z"),
        ("2026-11-28T12:04:00Z", "2026-11-28T12:04:00Z"),  # within the clock skew
        ("2099-01-01T00:00:00Z", "2026-11-28T12:00:00Z"),  # far future: the operator's clock
        ("9999-12-31T23:59:59-05:00", "2026-11-28T12:00:00Z"),
        ("0001-01-01T00:00:00+05:00", "2026-11-28T12:00:00Z"),  # no UTC year for it
        ("yesterday", "2026-11-28T12:00:00Z"),
        ("2026-11-28", "2026-11-28T12:00:00Z"),  # a date, not a date-time
        ("2026-11-28T11:59:58", "2026-11-28T12:00:00Z"),  # no offset
        ("", "2026-11-28T12:00:00Z"),
    ],
)
def test_updated_at_is_always_a_valid_time_not_in_the_future(reported: str, mirrored: str) -> None:
    """The apiserver refuses a malformed date-time: such a report must not fail every status
    write, nor a trainer's clock set years ahead pin updatedAt there."""
    fields = status_mirror.progress_fields(ProgressReport(step=4, updated_at=reported), NOW)
    assert fields == {"step": 4, "updatedAt": mirrored}


def test_checkpoint_time_that_is_not_one_is_left_out() -> None:
    def mirrored(time: str) -> dict[str, object] | None:
        checkpoint = CheckpointRef(uri="s3://b/ck/", step=3, time=time)
        return status_mirror.checkpoint_fields(ProgressReport(last_checkpoint=checkpoint), NOW)

    assert mirrored("not a time") == {"uri": "s3://b/ck/", "step": 3}
    assert mirrored("2099-01-01T00:00:00Z") == {
        "uri": "s3://b/ck/",
        "step": 3,
        "time": "2026-11-28T12:00:00Z",
    }
    assert status_mirror.checkpoint_fields(ProgressReport(), NOW) is None


SHA = "0123456789abcdef0123456789abcdef01234567"
OLDER_VALIDATOR = '{"ok":true,"kind":"validate","dataset":{"trainExamples":3}}'


@pytest.mark.parametrize(
    ("message", "base_model"),
    [
        (OLDER_VALIDATOR, {}),
        (OLDER_VALIDATOR[:-1] + f',"baseModel":{{"revision":"{SHA}"}}}}', {"revision": SHA}),
        # A newer validator's fields are ignored by this operator, as this field is by older ones.
        (
            OLDER_VALIDATOR[:-1]
            + f',"baseModel":{{"revision":"{SHA}","size":7}},"tokenizer":{{"vocab":3}}}}',
            {"revision": SHA},
        ),
    ],
    ids=["older-validator", "hub-commit", "newer-validator"],
)
def test_base_model_commit_from_the_validation_summary(
    message: str, base_model: dict[str, str]
) -> None:
    summary = parse_summary(message)
    assert isinstance(summary, ValidateSummary)
    assert status_mirror.base_model_fields(summary) == base_model
    assert status_mirror.dataset_fields(summary) == {"trainExamples": 3}


@pytest.mark.parametrize("revision", ["main", SHA.upper(), SHA[:7], f"{SHA}/../x"])
def test_a_revision_that_is_not_a_commit_sha_is_refused_with_the_summary(revision: str) -> None:
    """The pin goes into the training pods' job document: only a commit the Hub could have
    named (the summary is refused, as any report that breaks its bounds; training then resolves
    the revision itself)."""
    message = OLDER_VALIDATOR[:-1] + f',"baseModel":{{"revision":"{revision}"}}}}'
    assert parse_summary(message) is None
