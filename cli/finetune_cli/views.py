"""What the commands show, as plain text built from a FineTuneJob object: pure functions.

``list``'s rows, ``describe``'s sections and ``watch``'s progress line are computed here from
the object as the API returns it (parsed with the contract's status model), so they are tested
without a cluster or a terminal; ``render.py`` only lays them out with rich.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from finetune_api.reports import Metrics, ProgressReport, parse_time
from finetune_api.status import (
    FINAL_PHASES,
    ConditionType,
    FineTuneJobStatus,
    Phase,
    accuracy_text,
)

BAR_WIDTH = 10
MISSING = "-"


def job_status(job: Mapping[str, Any]) -> FineTuneJobStatus:
    """The object's status; an empty one when absent (not reconciled yet) or unreadable."""
    try:
        return FineTuneJobStatus.model_validate(job.get("status") or {})
    except ValidationError:
        return FineTuneJobStatus()


def age(stamp: str | None, now: datetime) -> str:
    """kubectl's short age: 45s, 12m, 3h, 5d."""
    moment = parse_time(stamp) if stamp else None
    if moment is None:
        return MISSING
    return duration(max(0, int((now - moment).total_seconds())))


def duration(seconds: int | float | None) -> str:
    """Seconds as ``45s``, ``12m5s``, ``3h20m``, ``5d``: two units at most, as kubectl does."""
    if seconds is None:
        return MISSING
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if seconds < 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{hours}h{rest // 60}m" if rest // 60 else f"{hours}h"
    return f"{seconds // 86400}d"


def bar(percent: int | None, width: int = BAR_WIDTH) -> str:
    """A text progress bar with its percentage: ``██████░░░░  60%``."""
    if percent is None:
        return MISSING
    percent = max(0, min(100, percent))
    filled = round(width * percent / 100)
    return f"{'█' * filled}{'░' * (width - filled)} {percent:3d}%"


def number(value: float | None, digits: int = 4) -> str:
    return MISSING if value is None else f"{value:.{digits}g}"


def share(value: float | None) -> str:
    return MISSING if value is None else f"{value:.0%}"


def base_to_tuned(base: float | None, tuned: float | None, fmt: Any = share) -> str:
    """``31% → 88%``: how the base model did against the tuned one."""
    if base is None and tuned is None:
        return MISSING
    return f"{fmt(base)} → {fmt(tuned)}"


def percent_of(status: FineTuneJobStatus) -> int | None:
    """The job's progress; a Succeeded job is complete even if its last report was not."""
    if status.phase == Phase.SUCCEEDED:
        return 100
    return status.progress.percent if status.progress else None


LIST_HEADERS = ("NAME", "PHASE", "PROGRESS", "TRAIN LOSS", "EVAL LOSS", "ACCURACY", "AGE")


def list_row(job: Mapping[str, Any], now: datetime) -> tuple[str, ...]:
    """One line of ``list``: name, phase, bar, losses, answer accuracy base → tuned, age."""
    status = job_status(job)
    metrics = status.metrics or Metrics()
    return (
        job["metadata"]["name"],
        status.phase or "Pending",
        bar(percent_of(status)),
        number(metrics.train_loss),
        number(metrics.eval_loss),
        accuracy_text(metrics) or MISSING,
        age(job["metadata"].get("creationTimestamp"), now),
    )


@dataclass(frozen=True)
class ProgressLine:
    """What ``watch`` shows: bar position and the fields beside it."""

    completed: int
    total: int | None
    fields: str


def progress_line(job: Mapping[str, Any]) -> ProgressLine:
    status = job_status(job)
    progress, metrics = status.progress, status.metrics or Metrics()
    step = progress.step if progress and progress.step is not None else 0
    total = progress.total_steps if progress else None
    if status.phase == Phase.SUCCEEDED and total is not None:
        step = total  # the last progress mirrored may predate the last steps
    parts = [
        status.phase or "Pending",
        f"step {step}/{total if total is not None else '?'}",
        f"loss {number(metrics.train_loss)}",
    ]
    if progress and progress.tokens_per_second is not None:
        parts.append(f"{progress.tokens_per_second:,.0f} tok/s")
    if progress and progress.eta_seconds is not None and status.phase not in FINAL_PHASES:
        parts.append(f"ETA {duration(progress.eta_seconds)}")
    if progress and progress.stage is not None and status.phase == Phase.RUNNING:
        parts.append(str(progress.stage))
    return ProgressLine(step, total, "  ".join(parts))


def report_line(report: ProgressReport) -> ProgressLine:
    """What ``run --local`` shows from the trainer's own progress report."""
    step, total = report.step or 0, report.total_steps
    parts = [
        str(report.stage or "loading"),
        f"step {step}/{total if total is not None else '?'}",
        f"loss {number(report.loss)}",
    ]
    if report.tokens_per_second is not None:
        parts.append(f"{report.tokens_per_second:,.0f} tok/s")
    if report.eta_seconds is not None:
        parts.append(f"ETA {duration(report.eta_seconds)}")
    return ProgressLine(step, total, "  ".join(parts))


def failure_reason(job: Mapping[str, Any]) -> str:
    """Why a job ended Failed or Cancelled: its Failed condition's reason and message."""
    status = job_status(job)
    failed = next((c for c in status.conditions if c.type == ConditionType.FAILED), None)
    if failed is not None and failed.status == "True":
        return f"{failed.reason}: {failed.message}" if failed.message else str(failed.reason)
    return f"the job is {status.phase}"


Section = tuple[str, list[tuple[str, str]]]


def describe_sections(
    job: Mapping[str, Any], events: Sequence[Mapping[str, Any]], now: datetime
) -> list[Section]:
    """``describe``'s sections: spec summary, status, conditions, dataset, metrics (base
    against tuned), last checkpoint, output and recent events, each as (key, value) rows."""
    spec, status = job.get("spec") or {}, job_status(job)
    metadata = job["metadata"]
    method = (spec.get("method") or {}).get("type", "lora")
    hp = spec.get("hyperparameters") or {}
    resources = spec.get("resources") or {}
    dataset = spec.get("dataset") or {}
    sections: list[Section] = [
        (
            "Job",
            [
                ("Name", metadata["name"]),
                ("Namespace", metadata.get("namespace", MISSING)),
                ("Age", age(metadata.get("creationTimestamp"), now)),
                ("Phase", status.phase or "Pending"),
                ("Progress", bar(percent_of(status))),
                ("Attempts", str(status.attempts) if status.attempts else MISSING),
            ],
        ),
        (
            "Spec",
            [
                ("Base model", (spec.get("baseModel") or {}).get("uri", MISSING)),
                ("Train data", dataset.get("train", MISSING)),
                ("Eval data", dataset.get("eval") or _split(dataset.get("evalSplit"))),
                ("Method", method),
                ("Length", _length(hp)),
                ("Learning rate", str(hp.get("learningRate", MISSING))),
                ("Batch size", str(hp.get("batchSize", MISSING))),
                (
                    "Resources",
                    f"{resources.get('numNodes', 1)} node(s) x "
                    f"{resources.get('gpusPerNode', 1)} GPU(s)",
                ),
                ("Output", (spec.get("output") or {}).get("uri", MISSING)),
                ("Suspend", str(bool((spec.get("runPolicy") or {}).get("suspend", False)))),
            ],
        ),
        (
            "Conditions",
            [
                (c.type, f"{c.status}  {c.reason or ''}  {c.message or ''}".rstrip())
                for c in status.conditions
            ],
        ),
    ]
    if status.dataset is not None:
        stats = status.dataset
        sections.append(
            (
                "Dataset",
                [
                    ("Format", stats.format or MISSING),
                    ("Train examples", _count(stats.train_examples)),
                    ("Eval examples", _count(stats.eval_examples)),
                    ("Train tokens", _count(stats.train_tokens)),
                    ("Truncated", _count(stats.truncated_examples)),
                    ("Dropped", _count(stats.dropped_examples)),
                ],
            )
        )
    if status.metrics is not None:
        sections.append(("Metrics (base → tuned)", metric_rows(status.metrics)))
    if status.last_checkpoint is not None:
        ckpt = status.last_checkpoint
        sections.append(
            (
                "Last checkpoint",
                [
                    ("URI", ckpt.uri),
                    ("Step", _count(ckpt.step)),
                    ("Time", ckpt.time or MISSING),
                ],
            )
        )
    if status.output is not None:
        out = status.output
        sections.append(
            (
                "Output",
                [
                    ("URI", out.uri or MISSING),
                    ("Manifest", out.manifest or MISSING),
                    ("Files", _count(out.files)),
                ],
            )
        )
    sections.append(("Events", event_rows(events, now)))
    return sections


def metric_rows(metrics: Metrics) -> list[tuple[str, str]]:
    """Each metric the job has, the base model's value beside the tuned one's."""
    rows = [
        ("Train loss", number(metrics.train_loss)),
        ("Eval loss", base_to_tuned(metrics.base_eval_loss, metrics.eval_loss, number)),
        ("Eval perplexity", number(metrics.eval_perplexity)),
        ("Eval token accuracy", share(metrics.eval_token_accuracy)),
        ("Answer accuracy", base_to_tuned(metrics.base_answer_accuracy, metrics.answer_accuracy)),
        (
            "Answer exact match",
            base_to_tuned(metrics.base_answer_exact_match, metrics.answer_exact_match),
        ),
        ("Answer ROUGE-L", base_to_tuned(metrics.base_answer_rouge_l, metrics.answer_rouge_l)),
    ]
    return [(key, value) for key, value in rows if value != MISSING]


EVENTS_SHOWN = 10


def event_rows(events: Sequence[Mapping[str, Any]], now: datetime) -> list[tuple[str, str]]:
    """The newest events, oldest first: (age, "Type Reason: message")."""

    def when(event: Mapping[str, Any]) -> str:
        return str(
            event.get("lastTimestamp")
            or event.get("eventTime")
            or (event.get("metadata") or {}).get("creationTimestamp")
            or ""
        )

    newest = sorted(events, key=when)[-EVENTS_SHOWN:]
    return [
        (
            age(when(e) or None, now),
            f"{e.get('type', '')} {e.get('reason', '')}: {e.get('message', '')}",
        )
        for e in newest
    ]


def _count(value: int | None) -> str:
    return MISSING if value is None else f"{value:,}"


def _length(hyperparameters: dict[str, Any]) -> str:
    """How long the run trains: maxSteps when set (it overrides the epochs, ending the run
    before them or going on past them), else the epochs."""
    max_steps = hyperparameters.get("maxSteps")
    if max_steps:
        return f"{max_steps:,} steps (maxSteps; overrides epochs)"
    return f"{hyperparameters.get('epochs', MISSING)} epochs"


def _split(value: float | None) -> str:
    return MISSING if value is None else f"{value:.0%} of train"
