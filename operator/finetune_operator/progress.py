"""Mapping of the trainer's progress and termination summaries into FineTuneJob status fields.

The trainer's rank 0 serves its progress as JSON (docs/architecture.md, "Progress channel") and
leaves a final summary as its termination message; both are translated here into
``status.progress``, ``status.metrics``, ``status.lastCheckpoint`` and ``status.output``. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

_PROGRESS_FIELDS = (
    "step",
    "totalSteps",
    "epoch",
    "etaSeconds",
    "tokensPerSecond",
    "stage",
    "updatedAt",
)
_INT_FIELDS = frozenset({"step", "totalSteps", "etaSeconds"})
_METRIC_FIELDS = ("trainLoss", "evalLoss", "evalPerplexity", "baseEvalLoss", "evalTokenAccuracy")
_DATASET_FIELDS = (
    "trainExamples",
    "evalExamples",
    "trainTokens",
    "truncatedExamples",
    "droppedExamples",
    "format",
)


def _number(value: Any) -> float | None:
    """A finite number, or None (NaN and infinities are not valid JSON for the apiserver)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _percent(step: Any, total: Any) -> int | None:
    if not isinstance(step, int) or not isinstance(total, int) or total <= 0:
        return None
    return max(0, min(100, step * 100 // total))


def progress_fields(report: Mapping[str, Any]) -> dict[str, Any]:
    """``status.progress`` from a progress report."""
    progress: dict[str, Any] = {}
    for field in _PROGRESS_FIELDS:
        value = report.get(field)
        if field in {"stage", "updatedAt"}:
            if isinstance(value, str):
                progress[field] = value
            continue
        number = _number(value)
        if number is not None:
            progress[field] = int(number) if field in _INT_FIELDS else number
    percent = _percent(progress.get("step"), progress.get("totalSteps"))
    if percent is not None:
        progress["percent"] = percent
    return progress


def metrics_from_progress(report: Mapping[str, Any]) -> dict[str, Any]:
    """``status.metrics`` from a progress report (its ``loss`` is the latest train loss)."""
    metrics: dict[str, Any] = {}
    for source, target in (
        ("loss", "trainLoss"),
        ("evalLoss", "evalLoss"),
        ("baseEvalLoss", "baseEvalLoss"),
    ):
        value = _number(report.get(source))
        if value is not None:
            metrics[target] = value
    if "evalLoss" in metrics and metrics["evalLoss"] < 700:  # exp() overflows past ~709
        metrics["evalPerplexity"] = math.exp(metrics["evalLoss"])
    return metrics


def final_metrics(summary: Mapping[str, Any]) -> dict[str, Any]:
    """``status.metrics`` from rank 0's train summary."""
    source = summary.get("metrics")
    if not isinstance(source, Mapping):
        return {}
    metrics = {f: _number(source.get(f)) for f in _METRIC_FIELDS}
    return {f: v for f, v in metrics.items() if v is not None}


def output_fields(summary: Mapping[str, Any]) -> dict[str, Any]:
    """``status.output``; ``files`` is reported as a count whether the trainer lists or counts."""
    source = summary.get("output")
    if not isinstance(source, Mapping):
        return {}
    output = {f: source[f] for f in ("uri", "manifest") if isinstance(source.get(f), str)}
    files = source.get("files")
    if isinstance(files, list):
        output["files"] = len(files)
    elif isinstance(files, int) and not isinstance(files, bool):
        output["files"] = files
    return output


def checkpoint_fields(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """``status.lastCheckpoint`` from a progress report, if it names one."""
    source = report.get("lastCheckpoint")
    if not isinstance(source, Mapping) or not isinstance(source.get("uri"), str):
        return None
    checkpoint: dict[str, Any] = {"uri": source["uri"]}
    if isinstance(source.get("step"), int):
        checkpoint["step"] = source["step"]
    if isinstance(source.get("time"), str):
        checkpoint["time"] = source["time"]
    return checkpoint


def dataset_fields(summary: Mapping[str, Any]) -> dict[str, Any]:
    """``status.dataset`` from the validation summary."""
    source = summary.get("dataset")
    if not isinstance(source, Mapping):
        return {}
    return {
        f: source[f]
        for f in _DATASET_FIELDS
        if isinstance(source.get(f), int | str) and not isinstance(source.get(f), bool)
    }
