"""The trainer's small error taxonomy.

Every failure the user can fix (bad dataset, model, credentials, config) is an ``InputError``:
the entry point turns it into exit code 3 (``finetune_api.pod.EXIT_PERMANENT``), which the Job's
``podFailurePolicy`` fails at once instead of retrying. Everything else is retried and resumes
from the newest checkpoint. Reasons are the contract's (``finetune_api.reasons.Reason``).
"""

from __future__ import annotations

from finetune_api import pod
from finetune_api.reasons import Reason


class TrainerError(Exception):
    """A failure with a reason the operator can show in status without reading logs."""

    reason = Reason.ERROR
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Preempted(TrainerError):
    """SIGTERM arrived; a checkpoint was written. Not exit 3, so the Job retries and resumes."""

    exit_code = pod.EXIT_PREEMPTED


class StorageUnavailable(TrainerError):
    """S3 stayed unreachable (or overloaded) past the retry budget (``retry.py``). Not exit 3:
    the outage is not the user's input, so the Job retries and resumes from a checkpoint."""

    reason = Reason.STORAGE_UNAVAILABLE
    exit_code = pod.EXIT_STORAGE_UNAVAILABLE


class InputError(TrainerError):
    """A permanent user error: retrying cannot help."""

    exit_code = pod.EXIT_PERMANENT


class InvalidDataset(InputError):
    reason = Reason.INVALID_DATASET


class InvalidModel(InputError):
    reason = Reason.INVALID_MODEL


class InvalidCredentials(InputError):
    reason = Reason.INVALID_CREDENTIALS


class InvalidConfig(InputError):
    reason = Reason.INVALID_CONFIG


class TrainingDiverged(InputError):
    """NaN/Inf loss: the same data and hyperparameters would diverge again, so do not retry."""

    reason = Reason.TRAINING_DIVERGED
