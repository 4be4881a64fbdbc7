"""Mirror of the trainer's reports (``finetune_api.reports``) into FineTuneJob status fields.

The trainer's rank 0 serves its progress (docs/architecture.md, "Progress channel") and leaves a
summary as its termination message; both become ``status.progress``, ``status.metrics``,
``status.lastCheckpoint``, ``status.dataset``, ``status.baseModel`` and ``status.output`` here,
as plain JSON objects ready for the status patch. Pure.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from finetune_api.reports import (
    CheckpointRef,
    Metrics,
    ProgressReport,
    TrainSummary,
    ValidateSummary,
    parse_time,
    rfc3339,
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


CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of the operator's clock a trainer's timestamp may be before it is clamped."""


def trainer_time(stamp: str | None, now: datetime) -> str | None:
    """A timestamp from the trainer as status may carry it: RFC 3339 in UTC, and never later
    than the operator's clock (beyond ``CLOCK_SKEW``, it becomes ``now``). None when absent or
    not a time: the apiserver refuses a malformed ``date-time``, and one bad field must not
    fail every status write (and so freeze status) while the trainer keeps sending it."""
    moment = parse_time(stamp) if stamp else None
    if moment is None:
        return None
    if moment > now + CLOCK_SKEW:
        return rfc3339(now)
    try:
        return rfc3339(moment)
    except (OverflowError, ValueError):  # year 1 with a positive offset is year 0 in UTC
        return None


def _received(stamp: str | None, now: datetime) -> str | None:
    if stamp is None:
        return None
    return trainer_time(stamp, now) or rfc3339(now)


def progress_fields(report: ProgressReport, now: datetime) -> dict[str, Any]:
    """``status.progress`` from a progress report received at ``now``. A reported
    ``updatedAt`` is the trainer's when it is a time not in the future, else ``now``: status
    keeps moving with the steps whatever the trainer's clock says."""
    progress = ProgressStatus(
        step=report.step,
        total_steps=report.total_steps,
        epoch=report.epoch,
        percent=_percent(report.step, report.total_steps),
        eta_seconds=report.eta_seconds,
        tokens_per_second=report.tokens_per_second,
        stage=report.stage,
        updated_at=_received(report.updated_at, now),
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


def checkpoint_fields(report: ProgressReport, now: datetime) -> dict[str, Any] | None:
    """``status.lastCheckpoint`` from a progress report, if it names one (its ``time`` left
    out when it is not one, ``now`` when in the future)."""
    checkpoint: CheckpointRef | None = report.last_checkpoint
    if checkpoint is None:
        return None
    return checkpoint.model_copy(update={"time": trainer_time(checkpoint.time, now)}).wire()


def dataset_fields(summary: ValidateSummary) -> dict[str, Any]:
    """``status.dataset`` from the validation summary."""
    return summary.dataset.wire()


def base_model_fields(summary: ValidateSummary) -> dict[str, Any]:
    """``status.baseModel`` from the validation summary: the commit of an hf:// model; empty
    for an S3 model and for a validator that reported none."""
    return summary.base_model.wire() if summary.base_model else {}
