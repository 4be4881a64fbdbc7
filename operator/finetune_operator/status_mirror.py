"""Mirror of the trainer's reports (``finetune_api.reports``) into FineTuneJob status fields.

The trainer's rank 0 serves its progress (docs/architecture.md, "Progress channel") and leaves a
summary as its termination message; both become ``status.progress``, ``status.metrics``,
``status.lastCheckpoint``, ``status.dataset`` and ``status.output`` here, as plain JSON objects
ready for the status patch. Pure.
"""

from __future__ import annotations

import math
from typing import Any

from finetune_api.reports import (
    CheckpointRef,
    Metrics,
    ProgressReport,
    TrainSummary,
    ValidateSummary,
)
from finetune_api.status import ProgressStatus

MAX_PERPLEXITY_LOSS = 700.0
"""exp() overflows past ~709; a larger loss has no perplexity worth showing."""


def _finite(fields: dict[str, Any]) -> dict[str, Any]:
    """Without NaN and infinities, which are not valid JSON for the apiserver."""
    return {k: v for k, v in fields.items() if not isinstance(v, float) or math.isfinite(v)}


METRIC_DIGITS = 4
"""Significant digits of a metric in status: `kubectl get` prints them as they are."""


def _readable(metrics: dict[str, Any]) -> dict[str, Any]:
    """Finite metrics, rounded for people (0.7842, not 0.7842440783977509); metrics.json in
    the output keeps full precision."""
    return {
        k: float(f"{v:.{METRIC_DIGITS}g}") if isinstance(v, float) else v
        for k, v in _finite(metrics).items()
    }


def _percent(step: int | None, total: int | None) -> int | None:
    if step is None or total is None or total <= 0:
        return None
    return max(0, min(100, step * 100 // total))


def progress_fields(report: ProgressReport) -> dict[str, Any]:
    """``status.progress`` from a progress report."""
    progress = ProgressStatus(
        step=report.step,
        total_steps=report.total_steps,
        epoch=report.epoch,
        percent=_percent(report.step, report.total_steps),
        eta_seconds=report.eta_seconds,
        tokens_per_second=report.tokens_per_second,
        stage=report.stage,
        updated_at=report.updated_at,
    )
    return _finite(progress.wire())


def metrics_from_progress(report: ProgressReport) -> dict[str, Any]:
    """``status.metrics`` from a progress report (its ``loss`` is the latest train loss)."""
    metrics = _finite(
        Metrics(
            train_loss=report.loss, eval_loss=report.eval_loss, base_eval_loss=report.base_eval_loss
        ).wire()
    )
    if "evalLoss" in metrics and metrics["evalLoss"] < MAX_PERPLEXITY_LOSS:
        metrics["evalPerplexity"] = math.exp(metrics["evalLoss"])
    return _readable(metrics)


def final_metrics(summary: TrainSummary) -> dict[str, Any]:
    """``status.metrics`` from rank 0's train summary."""
    return _readable(summary.metrics.wire()) if summary.metrics else {}


def output_fields(summary: TrainSummary) -> dict[str, Any]:
    """``status.output`` from rank 0's train summary."""
    return summary.output.wire() if summary.output else {}


def checkpoint_fields(report: ProgressReport) -> dict[str, Any] | None:
    """``status.lastCheckpoint`` from a progress report, if it names one."""
    checkpoint: CheckpointRef | None = report.last_checkpoint
    return checkpoint.wire() if checkpoint else None


def dataset_fields(summary: ValidateSummary) -> dict[str, Any]:
    """``status.dataset`` from the validation summary."""
    return summary.dataset.wire()
