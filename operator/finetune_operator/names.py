"""Deterministic names and labels of a FineTuneJob's children.

Names are derived from the job's name alone, so a restarted operator finds (and never
duplicates) what an earlier one created. The CRD limits the job's name to 52 characters so every
derived name fits its Kubernetes limit (see the CEL rule at the root of the schema). Ports, exit
codes and paths the trainer relies on are the contract's (``finetune_api.pod``).
"""

from __future__ import annotations

from typing import Final, Literal

from finetune_api.resource import GROUP

FIELD_MANAGER: Final = "finetune-operator"

LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_JOB: Final = f"{GROUP}/job"
LABEL_ROLE: Final = f"{GROUP}/role"
LABEL_KUEUE_QUEUE: Final = "kueue.x-k8s.io/queue-name"
LABEL_NAMESPACE_NAME: Final = "kubernetes.io/metadata.name"
"""Set by the apiserver on every namespace: a NetworkPolicy names a namespace by it."""
MANAGED_BY: Final = "finetune-operator"
TRAINER_APP: Final = "finetune-trainer"
MANAGED_SELECTOR: Final = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
"""The label selector of every child and its pods, for the apiserver to filter with."""

COMPLETION_INDEX_ANNOTATION: Final = "batch.kubernetes.io/job-completion-index"
ATTEMPT_ANNOTATION: Final = f"{GROUP}/attempt"
"""On a training Job: the FineTuneJob's attempt it runs (1, 2, ...); each attempt is a new Job."""

CONTAINER_NAME: Final = "trainer"

Role = Literal["validate", "train", "config"]
"""validate and train label Jobs, their pods and the Service; config labels the ConfigMaps."""


def config_map_name(job: str) -> str:
    return f"{job}-config"


def train_config_map_name(job: str) -> str:
    """The training pods' job document, when it differs from ``config_map_name``'s (an hf://
    base model pinned to the commit validation resolved)."""
    return f"{job}-train-config"


def validate_job_name(job: str) -> str:
    return f"{job}-validate"


def train_job_name(job: str) -> str:
    return f"{job}-train"


def service_name(job: str) -> str:
    """The headless Service; same name as the training Job so pods resolve as <job>-train-<i>."""
    return f"{job}-train"


def master_addr(job: str) -> str:
    """DNS name of training pod 0 through the headless Service (Indexed Job hostnames)."""
    return f"{train_job_name(job)}-0.{service_name(job)}"


def child_labels(job: str, role: Role) -> dict[str, str]:
    """Labels of every child and its pods: our own, never the parent's (GitOps tracking)."""
    return {
        LABEL_NAME: TRAINER_APP,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_JOB: job,
        LABEL_ROLE: role,
    }
