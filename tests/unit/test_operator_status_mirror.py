"""The trainer's reports mirrored into status fields: finite numbers only, percent derived."""

from __future__ import annotations

import math

from finetune_api.reports import Metrics, OutputRef, ProgressReport, Stage, TrainSummary
from finetune_operator import status_mirror


def test_progress_fields_drop_non_finite_and_compute_percent() -> None:
    report = ProgressReport(
        step=5, total_steps=20, tokens_per_second=math.nan, epoch=0.25, stage=Stage.TRAINING
    )
    assert status_mirror.progress_fields(report) == {
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


def test_output_files_as_count() -> None:
    summary = TrainSummary(output=OutputRef(uri="s3://b/o/", files=7))
    assert status_mirror.output_fields(summary) == {"uri": "s3://b/o/", "files": 7}
