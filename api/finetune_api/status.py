"""The status the operator writes on a FineTuneJob: phases, condition types and the records.

``crds/finetunejob.yaml`` declares the same fields (a unit test keeps them equal). The dataset,
metrics, checkpoint and output records are the trainer's own (``reports``), mirrored as they are.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from finetune_api.reports import CheckpointRef, DatasetStats, Metrics, OutputRef, Record, Stage


class Phase(StrEnum):
    VALIDATING = "Validating"
    """The CPU-only validation Job checks the dataset and model; no GPU is requested yet."""
    QUEUED = "Queued"
    """Validated; waiting for --max-running-per-namespace or for Kueue's admission."""
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    """runPolicy.suspend is true."""
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    """Deleted before it finished."""


FINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED})
"""Sticky: a job in one of them never recreates its children."""


class ConditionType(StrEnum):
    VALIDATED = "Validated"
    ADMITTED = "Admitted"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SPEC_UNDERSTOOD = "SpecUnderstood"
    """False while the spec holds fields this operator build does not know (reason
    UnknownFields: a CRD upgraded before the operator) or cannot read (reason InvalidSpec);
    present only once that happened."""


class Condition(Record):
    """Per the Kubernetes API conventions."""

    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_transition_time: str
    observed_generation: int | None = None


class ProgressStatus(Record):
    """``status.progress``: the trainer's progress report without its metrics."""

    step: int | None = None
    total_steps: int | None = None
    epoch: float | None = None
    percent: int | None = None
    """step / totalSteps in percent."""
    eta_seconds: int | None = None
    tokens_per_second: float | None = None
    stage: Stage | None = None
    updated_at: str | None = None
    last_step_time: str | None = None
    """When the operator saw ``step`` change (its clock): the stall timeout counts from it, and
    it survives operator restarts."""


class FineTuneJobStatus(Record):
    phase: Phase | None = None
    observed_generation: int | None = None
    conditions: tuple[Condition, ...] = ()
    start_time: str | None = None
    completion_time: str | None = None
    attempts: int | None = None
    """Number of the current training attempt: one training Job running every rank; any
    rank's failure restarts the whole group as the next attempt."""
    failed_attempts: int | None = None
    """Attempts that failed and count against runPolicy.backoffLimit (not disruptions)."""
    dataset: DatasetStats | None = None
    progress: ProgressStatus | None = None
    metrics: Metrics | None = None
    last_checkpoint: CheckpointRef | None = None
    output: OutputRef | None = None
