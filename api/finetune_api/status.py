"""The status the operator writes on a FineTuneJob: phases, condition types and the records.

``crds/finetunejob.yaml`` declares the same fields (a unit test keeps them equal). The dataset,
base model, metrics, checkpoint and output records are the trainer's own (``reports``), mirrored
as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Literal, NamedTuple

from finetune_api.reports import (
    BaseModelRef,
    CheckpointRef,
    DatasetStats,
    Metrics,
    OutputRef,
    Record,
    Stage,
)


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
    CHECKPOINTED = "Checkpointed"
    """True once the trainer has reported a complete checkpoint (``status.lastCheckpoint``);
    the message names its step and URI."""
    READY = "Ready"
    """The summary for GitOps tools and ``kubectl wait``: True once the job Succeeded (its
    output is published); False in every other phase (``READINESS``)."""
    RECONCILING = "Reconciling"
    """kstatus: True while the job is still on its way to a final phase (Validating, Queued,
    Running), so Flux and kstatus report it InProgress."""
    STALLED = "Stalled"
    """kstatus: True once the job ended without an output (Failed, Cancelled), so Flux and
    kstatus report it Failed instead of waiting."""
    SPEC_UNDERSTOOD = "SpecUnderstood"
    """False while the spec holds fields this operator build does not know (reason
    UnknownFields: a CRD upgraded before the operator) or cannot read (reason InvalidSpec);
    present only once that happened."""


class Readiness(NamedTuple):
    """The summary conditions of one phase (``ConditionType.READY``, ``RECONCILING``,
    ``STALLED``), read by kstatus (Flux's health checks), ``kubectl wait`` and Argo CD."""

    ready: bool
    reconciling: bool
    stalled: bool


READINESS: Mapping[Phase, Readiness] = {
    Phase.VALIDATING: Readiness(ready=False, reconciling=True, stalled=False),
    Phase.QUEUED: Readiness(ready=False, reconciling=True, stalled=False),
    Phase.RUNNING: Readiness(ready=False, reconciling=True, stalled=False),
    # Waits for the user, not for the operator: kstatus reports it Current, not InProgress.
    Phase.SUSPENDED: Readiness(ready=False, reconciling=False, stalled=False),
    Phase.SUCCEEDED: Readiness(ready=True, reconciling=False, stalled=False),
    # Final without an output: nothing will change until the user acts (a new job).
    Phase.FAILED: Readiness(ready=False, reconciling=False, stalled=True),
    Phase.CANCELLED: Readiness(ready=False, reconciling=False, stalled=True),
}
"""A batch job is Ready when it has done its work: Succeeded. Every phase is listed (a unit
test checks it)."""


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
    base_model: BaseModelRef | None = None
    """The commit an hf:// base model resolved to at validation (from the validation summary),
    which the training pods download (``builders.pinned_job``); absent for an S3 model or a
    validator that reported none."""
    progress: ProgressStatus | None = None
    metrics: Metrics | None = None
    accuracy: str | None = None
    """``metrics``' answer accuracy for people, base → tuned (``accuracy_text``): the
    ``kubectl get`` column. Printer columns print a number as it is stored (0.7842440783977509),
    so the column reads this text; ``metrics`` keeps the numbers."""
    last_checkpoint: CheckpointRef | None = None
    output: OutputRef | None = None


def accuracy_text(metrics: Metrics) -> str | None:
    """``0% → 81%``: the base model's answer accuracy, then the tuned model's, as whole percents
    (``81%`` alone when the base model was not graded); None until the tuned model is."""
    base, tuned = metrics.base_answer_accuracy, metrics.answer_accuracy
    if tuned is None:
        return None
    return f"{tuned:.0%}" if base is None else f"{base:.0%} → {tuned:.0%}"
