"""The FineTuneJob document as typed, frozen models: the one contract between operator and trainer.

Both sides parse the same document with these models: the operator renders the job (defaults
resolved, ``schemaVersion`` added) into the ``<job>-config`` ConfigMap, and the trainer reads that
file, or the manifest a user would ``kubectl apply``. Defaults here mirror the CRD schema's
defaults (``crds/finetunejob.yaml``); a unit test keeps the two equal. The few names of the pod
contract that both sides must spell alike (the scratch dir) live here too.

This module imports only pydantic and PyYAML so the operator can use it without torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

API_GROUP = "finetune.dev"
API_VERSION = "v1alpha1"
KIND = "FineTuneJob"
SCHEMA_VERSION = 1
"""Version of the rendered job document; bump when a change is not backward compatible."""
SCRATCH_DIR = "/scratch"
"""Where the operator mounts the pod's writable emptyDir (the root filesystem is read-only)."""
SCRATCH_ENV = "FINETUNE_SCRATCH"
"""The variable naming the scratch dir; the trainer puts every cache and work dir under it."""


class Model(BaseModel):
    """Base for every spec model: camelCase on the wire, frozen, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


class BaseModelSource(Model):
    uri: str = Field(pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")


class Dataset(Model):
    train: str = Field(pattern=r"^s3://")
    eval: str | None = Field(default=None, pattern=r"^s3://")
    eval_split: float | None = Field(default=None, gt=0, lt=1)
    format: Literal["auto", "chat", "prompt-completion", "text"] = "auto"

    @model_validator(mode="after")
    def _eval_xor_split(self) -> Dataset:
        if self.eval is not None and self.eval_split is not None:
            raise ValueError("spec.dataset: eval and evalSplit are mutually exclusive")
        return self


class LoraConfig(Model):
    r: int = Field(default=16, ge=1, le=1024)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: tuple[str, ...] = ("all-linear",)


class Method(Model):
    type: Literal["lora", "full"] = "lora"
    lora: LoraConfig | None = None

    @model_validator(mode="after")
    def _lora_only_with_lora(self) -> Method:
        if self.type != "lora" and self.lora is not None:
            raise ValueError("spec.method.lora is only allowed with method.type: lora")
        return self

    @property
    def lora_config(self) -> LoraConfig:
        """The LoRA settings in force (defaults when the spec leaves them out)."""
        return self.lora or LoraConfig()


class Hyperparameters(Model):
    epochs: float = Field(default=3, gt=0, le=1000)
    learning_rate: float = Field(default=2.0e-4, gt=0, le=1)
    batch_size: int = Field(default=16, ge=1, le=65536)
    """Global batch size (examples per optimizer step across all ranks)."""
    micro_batch_size: int | None = Field(default=None, ge=1, le=4096)
    """Per-device batch; derived from batchSize and the world size when unset."""
    max_seq_length: int = Field(default=1024, ge=16, le=131072)
    packing: bool = False
    warmup_ratio: float = Field(default=0.03, ge=0, le=1)
    weight_decay: float = Field(default=0.0, ge=0, le=1)
    max_steps: int | None = Field(default=None, ge=1)
    eval_every_steps: int | None = Field(default=None, ge=1)
    seed: int = Field(default=42, ge=0)


class DeepSpeed(Model):
    zero_stage: Literal[0, 1, 2, 3] = 2
    offload: Literal["none", "optimizer", "all"] = "none"


class Toleration(BaseModel):
    """A Kubernetes toleration, passed through to the training pods unchanged."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: int | None = None


class Resources(Model):
    num_nodes: int = Field(default=1, ge=1, le=1024)
    gpus_per_node: int = Field(default=1, ge=0, le=64)
    gpu_resource: str = "nvidia.com/gpu"
    cpu: str | None = None
    memory: str | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    priority_class_name: str = ""


class SecretRef(Model):
    name: str


class Storage(Model):
    secret_ref: SecretRef | None = None
    endpoint: str = ""
    region: str = ""


class Output(Model):
    uri: str = Field(pattern=r"^s3://")
    merge: bool = False


class Checkpointing(Model):
    every_steps: int = Field(default=200, ge=1)
    keep: int = Field(default=2, ge=1, le=100)


class RunPolicy(Model):
    suspend: bool = False
    backoff_limit: int = Field(default=2, ge=0, le=100)
    active_deadline_seconds: int = Field(default=86400, ge=1)
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0)


class FineTuneJobSpec(Model):
    base_model: BaseModelSource
    dataset: Dataset
    method: Method = Field(default_factory=Method)
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    deepspeed: DeepSpeed = Field(default_factory=DeepSpeed)
    resources: Resources = Field(default_factory=Resources)
    storage: Storage = Field(default_factory=Storage)
    output: Output
    checkpointing: Checkpointing = Field(default_factory=Checkpointing)
    run_policy: RunPolicy = Field(default_factory=RunPolicy)
    queue_name: str = ""
    image: str | None = None
    """Trainer image; empty means the operator's default (which must be on its allow-list)."""

    @model_validator(mode="after")
    def _merge_needs_lora(self) -> FineTuneJobSpec:
        if self.output.merge and self.method.type != "lora":
            raise ValueError("spec.output.merge is only allowed with method.type: lora")
        return self


class JobMeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    name: str
    namespace: str = "default"
    uid: str | None = None


class FineTuneJob(BaseModel):
    """A whole FineTuneJob document: a user's manifest or the operator's rendered job.yaml."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)
    api_version: str = Field(default=f"{API_GROUP}/{API_VERSION}", alias="apiVersion")
    kind: Literal["FineTuneJob"] = "FineTuneJob"
    schema_version: int = Field(default=SCHEMA_VERSION, alias="schemaVersion")
    metadata: JobMeta
    spec: FineTuneJobSpec

    @model_validator(mode="after")
    def _known_schema(self) -> FineTuneJob:
        if self.schema_version > SCHEMA_VERSION:
            raise ValueError(
                f"schemaVersion {self.schema_version} is newer than this build understands "
                f"({SCHEMA_VERSION}); upgrade the trainer image"
            )
        return self

    def rendered(self) -> dict[str, Any]:
        """The document with every default resolved, as written to ``<job>-config/job.yaml``."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "schemaVersion": SCHEMA_VERSION,
            "metadata": {"name": self.metadata.name, "namespace": self.metadata.namespace},
            "spec": self.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        }


def parse_job(document: dict[str, Any]) -> FineTuneJob:
    """Parse a FineTuneJob document; raises pydantic.ValidationError naming the field."""
    return FineTuneJob.model_validate(document)


def load_job_file(path: str | Path) -> FineTuneJob:
    """Read a job file (YAML or JSON) and parse it."""
    with open(path, encoding="utf-8") as fh:
        document = yaml.safe_load(fh)
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a FineTuneJob document")
    return parse_job(document)
