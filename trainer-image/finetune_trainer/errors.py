"""The trainer's small error taxonomy.

Every failure the user can fix (bad dataset, model, credentials, config) is an ``InputError``:
the entry point turns it into exit code 3, which the Job's ``podFailurePolicy`` fails at once
instead of retrying. Everything else is retried and resumes from the newest checkpoint.
"""

from __future__ import annotations

from typing import Literal

Reason = Literal[
    "InvalidDataset",
    "InvalidModel",
    "InvalidCredentials",
    "InvalidConfig",
    "TrainingDiverged",
    "Error",
]

EXIT_INPUT_ERROR = 3
"""Exit code for permanent user errors (docs/architecture.md)."""


class TrainerError(Exception):
    """A failure with a reason the operator can show in status without reading logs."""

    reason: Reason = "Error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(TrainerError):
    """A permanent user error: retrying cannot help."""

    exit_code = EXIT_INPUT_ERROR


class InvalidDataset(InputError):
    reason = "InvalidDataset"


class InvalidModel(InputError):
    reason = "InvalidModel"


class InvalidCredentials(InputError):
    reason = "InvalidCredentials"


class InvalidConfig(InputError):
    reason = "InvalidConfig"


class TrainingDiverged(InputError):
    """NaN/Inf loss: the same data and hyperparameters would diverge again, so do not retry."""

    reason = "TrainingDiverged"
