"""The failure reasons a trainer reports in its termination summary, and those of the
operator's own policy checks.

The operator shows them as the reason of the Failed condition; its other reasons (e.g.
``OOMKilled``, ``DeadlineExceeded``) are listed in docs/architecture.md, "Failure reasons".
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    INVALID_DATASET = "InvalidDataset"
    INVALID_MODEL = "InvalidModel"
    INVALID_CREDENTIALS = "InvalidCredentials"
    INVALID_CONFIG = "InvalidConfig"
    TRAINING_DIVERGED = "TrainingDiverged"
    """NaN/Inf loss: the same data and hyperparameters would diverge again."""
    STORAGE_UNAVAILABLE = "StorageUnavailable"
    """S3 stayed unreachable past the trainer's retry budget; retried (exit
    ``pod.EXIT_STORAGE_UNAVAILABLE``), and never reported as bad input."""
    ERROR = "Error"
    """Anything unexpected; retried."""


VALIDATION_REASONS = frozenset(
    {
        Reason.INVALID_DATASET,
        Reason.INVALID_MODEL,
        Reason.INVALID_CREDENTIALS,
        Reason.INVALID_CONFIG,
        Reason.STORAGE_UNAVAILABLE,
    }
)
"""What validation reports by name: the inputs it refuses, and a storage outage it could not
ride out; any other failure of the validation pod is shown as ``ValidationFailed``."""


class PolicyReason(StrEnum):
    """Why the operator refuses a job before creating any pod for it: the cluster's settings
    (chart values, operator flags) forbid what the spec asks for. Final, like the trainer's
    permanent errors: the same spec is refused again."""

    IMAGE_NOT_ALLOWED = "ImageNotAllowed"
    """spec.image is not on the operator's --allowed-image list."""
    SECRET_REF_REQUIRED = "SecretRefRequired"
    """spec.storage.secretRef is empty while the operator runs with --require-secret-ref:
    without it the pods would reach S3 with the node's cloud identity."""
    ENDPOINT_NOT_ALLOWED = "EndpointNotAllowed"
    """spec.storage.endpoint is neither the operator's default endpoint nor on its
    --allowed-s3-endpoint list."""
