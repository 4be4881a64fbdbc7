"""``spec.podTemplate``: the settings a production cluster needs on the trainer's pods, and no
more.

A closed list of fields, not a pod template to merge: what it cannot express (privileged
settings, hostPath, host network, other containers, another image) no spec can ask for, and the
CRD schema refuses unknown fields. Each rule here is also a CEL rule of the CRD
(``crds/finetunejob.yaml``), so a bad spec is refused at ``kubectl apply``; the models repeat
them for the trainer's ``--job`` file and the operator's reading of the spec.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from finetune_api.fields import DNS_SUBDOMAIN, LABEL_VALUE, Model, SecretRef
from finetune_api.pod import TRAINER_SET_ENV, TRAINER_SET_ENV_PREFIXES
from finetune_api.resource import GROUP

QUALIFIED_NAME = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
"""A label or annotation key: an optional DNS-subdomain prefix and a name (as the apiserver
checks them)."""
OPERATOR_LABEL_KEYS = ("app.kubernetes.io/name", "app.kubernetes.io/managed-by")
"""The operator's own label keys outside its group; its indexes select children by them."""
RESERVED_KEY_PREFIXES = (f"{GROUP}/", "batch.kubernetes.io/")
"""Label and annotation keys the operator (job, role, attempt) and the Job controller
(completion index, controller uid) set: the Service's selector and the ownership checks rely
on them."""
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _reserved_key(key: str) -> bool:
    return key.startswith(RESERVED_KEY_PREFIXES) or key in OPERATOR_LABEL_KEYS


def reserved_env_name(name: str) -> bool:
    """Whether the operator, torchrun or the trainer sets ``name`` itself."""
    return name in TRAINER_SET_ENV or name.startswith(TRAINER_SET_ENV_PREFIXES)


class KeyRef(Model):
    """A key of a Secret or ConfigMap in the job's own namespace (a pod cannot name another)."""

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN)
    key: str = Field(max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    optional: bool | None = None


class EnvSource(Model):
    secret_key_ref: KeyRef | None = None
    config_map_key_ref: KeyRef | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EnvSource:
        if (self.secret_key_ref is None) == (self.config_map_key_ref is None):
            raise ValueError("valueFrom needs exactly one of secretKeyRef and configMapKeyRef")
        return self


class EnvVar(Model):
    name: str = Field(max_length=128, pattern=ENV_NAME)
    value: str | None = Field(default=None, max_length=4096)
    value_from: EnvSource | None = None

    @model_validator(mode="after")
    def _value_xor_source(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise ValueError(f"env {self.name}: value and valueFrom are mutually exclusive")
        return self

    @model_validator(mode="after")
    def _not_the_trainers_own(self) -> EnvVar:
        if reserved_env_name(self.name):
            raise ValueError(
                f"spec.podTemplate.env {self.name} is set by the operator or the trainer "
                "(finetune_api.pod): S3 settings come from spec.storage, MLFLOW_* and WANDB_* "
                "settings from spec.tracking"
            )
        return self


PreservedObject = dict[str, Any]
"""A Kubernetes structure kept as written (CRD: x-kubernetes-preserve-unknown-fields); the
apiserver validates it when the operator creates the Job, and a refusal fails the job with
ChildRejected and the apiserver's message."""


class Affinity(Model):
    """The pods' affinity, as in a Pod spec: each part is passed through unchanged."""

    node_affinity: PreservedObject | None = None
    pod_affinity: PreservedObject | None = None
    pod_anti_affinity: PreservedObject | None = None


LabelKey = Annotated[str, StringConstraints(max_length=316, pattern=QUALIFIED_NAME)]


class PodTemplate(Model):
    """What the user adds to the validation and training pods."""

    service_account_name: str | None = Field(default=None, max_length=253, pattern=DNS_SUBDOMAIN)
    """The pods' ServiceAccount (cloud identity: IRSA, Workload Identity); its token is then
    mounted. Unset: the namespace's default account, with no token mounted."""
    image_pull_secrets: tuple[SecretRef, ...] = Field(default=(), max_length=16)
    env: tuple[EnvVar, ...] = Field(default=(), max_length=64)
    affinity: Affinity | None = None
    labels: dict[LabelKey, LABEL_VALUE] = Field(default_factory=dict, max_length=64)
    annotations: dict[LabelKey, Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict, max_length=64
    )
    termination_grace_period_seconds: int | None = Field(default=None, ge=1, le=3600)
    """Of the training pods; unset uses the operator's --trainer-grace-period."""

    @model_validator(mode="after")
    def _unique_env(self) -> PodTemplate:
        names = [e.name for e in self.env]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"spec.podTemplate.env names {', '.join(duplicates)} more than once")
        return self

    @model_validator(mode="after")
    def _operator_keys_stay_the_operators(self) -> PodTemplate:
        for field, keys in (("labels", self.labels), ("annotations", self.annotations)):
            if reserved := sorted(k for k in keys if _reserved_key(k)):
                raise ValueError(
                    f"spec.podTemplate.{field} {', '.join(reserved)}: keys under "
                    f"{', '.join(RESERVED_KEY_PREFIXES)} and {', '.join(OPERATOR_LABEL_KEYS)} "
                    "belong to the operator and the Job controller"
                )
        return self
