"""The FineTuneJob document as typed, frozen models: the one contract between operator and trainer.

Both sides parse the same document with these models: the operator renders the job (every
default resolved, ``schemaVersion`` added) into the ``<job>-config`` ConfigMap, and the trainer
reads that file, or the manifest a user would ``kubectl apply``. Defaults, bounds, enums and
patterns here mirror the CRD schema (``crds/finetunejob.yaml``), and the cross-field rules its
CEL rules; a unit test walks both schemas and keeps them equal.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from finetune_api.fields import (
    DNS_SUBDOMAIN,
    LABEL_VALUE,
    LOCAL_URIS,
    MODEL_URI,
    S3_URI,
    Model,
    SecretRef,
)
from finetune_api.podtemplate import PodTemplate
from finetune_api.resource import API_VERSION, KIND

SCHEMA_VERSION = 1
"""Version of the rendered job document; bump when a change is not backward compatible."""


class SecretKeyRef(Model):
    """One key of a Secret in the job's namespace, passed to the pods as ``secretKeyRef``."""

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN)
    key: str = Field(default="HF_TOKEN", max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")


class BaseModelSource(Model):
    uri: MODEL_URI
    hf_token_secret_ref: SecretKeyRef | None = None
    """The Hub token (``HF_TOKEN`` in the pods) for private or gated ``hf://`` models."""

    @property
    def from_hub(self) -> bool:
        return self.uri.startswith("hf://")

    @model_validator(mode="after")
    def _token_only_for_the_hub(self) -> BaseModelSource:
        if self.hf_token_secret_ref is not None and not self.from_hub:
            raise ValueError("spec.baseModel.hfTokenSecretRef is only allowed with an hf:// uri")
        return self


class Dataset(Model):
    train: S3_URI
    eval: S3_URI | None = None
    eval_split: float | None = Field(default=None, gt=0, lt=1)
    format: Literal["auto", "chat", "prompt-completion", "text"] = "auto"

    @model_validator(mode="after")
    def _eval_xor_split(self) -> Dataset:
        if self.eval is not None and self.eval_split is not None:
            raise ValueError("spec.dataset.eval and spec.dataset.evalSplit are mutually exclusive")
        return self


class LoraSpec(Model):
    """The LoRA settings of the spec (``peft.LoraConfig`` is built from them by the trainer)."""

    r: int = Field(default=16, ge=1, le=1024)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: tuple[Annotated[str, StringConstraints(max_length=128)], ...] = Field(
        default=("all-linear",), min_length=1, max_length=64
    )


class Method(Model):
    type: Literal["lora", "full"] = "lora"
    lora: LoraSpec | None = None
    """Set whenever type is lora (its defaults filled in), so the rendered job carries them."""

    @model_validator(mode="before")
    @classmethod
    def _lora_defaults_with_lora(cls, data: Any) -> Any:
        # The CRD cannot default lora (it depends on type); the model does, once, for both sides.
        if isinstance(data, dict) and data.get("type", "lora") == "lora" and not data.get("lora"):
            return {**data, "lora": {}}
        return data

    @model_validator(mode="after")
    def _lora_only_with_lora(self) -> Method:
        if self.type != "lora" and self.lora is not None:
            raise ValueError("spec.method.lora is only allowed with method.type lora")
        return self


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
    eval_sample_size: int = Field(default=256, ge=1)
    """Eval records in the eval loss during training (a sample fixed by the seed); the base
    model's loss and the final one use every record."""
    lr_scheduler: Literal["linear", "cosine", "constant"] = "linear"
    group_by_length: bool = True
    """Batches of similar length, in an order fixed by the seed (ignored with packing)."""
    seed: int = Field(default=42, ge=0)


class DeepSpeed(Model):
    zero_stage: Literal[0, 1, 2, 3] = 2
    offload: Literal["none", "optimizer", "all"] = "none"

    @model_validator(mode="after")
    def _offload_needs_zero(self) -> DeepSpeed:
        if self.offload != "none" and self.zero_stage == 0:
            raise ValueError("spec.deepspeed.offload needs zeroStage 1, 2 or 3")
        if self.offload == "all" and self.zero_stage != 3:
            raise ValueError("spec.deepspeed.offload all (parameters too) needs zeroStage 3")
        return self


class Toleration(BaseModel):
    """A Kubernetes toleration, passed through to the training pods unchanged."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    key: str | None = Field(default=None, max_length=316)
    operator: Literal["Exists", "Equal"] | None = None
    value: LABEL_VALUE | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _as_the_apiserver_checks_it(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists must not set a value")
        if self.tolerationSeconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds needs effect NoExecute")
        return self


class Resources(Model):
    num_nodes: int = Field(default=1, ge=1, le=1024)
    gpus_per_node: int = Field(default=1, ge=0, le=64)
    gpu_resource: str = Field(
        default="nvidia.com/gpu",
        max_length=253,
        pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$",
    )
    cpu: str | None = Field(default=None, max_length=32, pattern=r"^[0-9]+(\.[0-9]+)?m?$")
    memory: str | None = Field(
        default=None,
        max_length=32,
        pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$",
    )
    node_selector: dict[str, LABEL_VALUE] = Field(default_factory=dict, max_length=64)
    tolerations: tuple[Toleration, ...] = Field(default=(), max_length=64)
    priority_class_name: str = Field(
        default="", max_length=253, pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$"
    )

    @property
    def procs_per_node(self) -> int:
        """Training processes per pod: one per GPU, or one training on the CPU."""
        return max(self.gpus_per_node, 1)

    @property
    def world_size(self) -> int:
        return self.num_nodes * self.procs_per_node


class Storage(Model):
    secret_ref: SecretRef | None = None
    endpoint: str = Field(default="", max_length=1024, pattern=r"^(https?://[^\s]+)?$")
    region: str = Field(default="", max_length=64)


class Output(Model):
    uri: S3_URI
    merge: bool = False


class Checkpointing(Model):
    every_steps: int = Field(default=200, ge=1)
    keep: int = Field(default=2, ge=1, le=100)


class RunPolicy(Model):
    suspend: bool = False
    backoff_limit: int = Field(default=2, ge=0, le=100)
    active_deadline_seconds: int = Field(default=86400, ge=1)
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0)


class Evaluation(Model):
    """Answer-level evaluation: base and tuned answers to the eval prompts, graded."""

    answers: bool = True
    max_new_tokens: int = Field(default=64, ge=1, le=4096)
    max_examples: int = Field(default=200, ge=1, le=100000)


TRACKER_NAME = Annotated[str, StringConstraints(max_length=128, pattern=r"^[^/\\#?%:\s]+$")]
"""A W&B project or entity name (no path or URL characters)."""


class MlflowTracking(Model):
    tracking_uri: str = Field(
        max_length=1024, pattern=r"^(https?://\S+|databricks(://\S+)?|file:/\S+)$"
    )
    """The MLflow tracking server (``file:`` only for runs outside a pod)."""
    experiment_name: str | None = Field(default=None, max_length=256)
    secret_ref: SecretRef | None = None
    """Secret with MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or
    MLFLOW_TRACKING_TOKEN (each key optional)."""


class WandbTracking(Model):
    project: TRACKER_NAME
    entity: TRACKER_NAME | None = None
    secret_ref: SecretRef | None = None
    """Secret with WANDB_API_KEY; unset for offline runs (WANDB_MODE=offline in podTemplate.env)."""


class Tracking(Model):
    """Experiment tracking, on top of what the trainer always publishes (metrics.json,
    loss.png)."""

    tensorboard: bool = False
    """TensorBoard event files under ``<output.uri>/tensorboard/``, uploaded with each
    checkpoint and at the end of training."""
    mlflow: MlflowTracking | None = None
    wandb: WandbTracking | None = None


class FineTuneJobSpec(Model):
    base_model: BaseModelSource
    dataset: Dataset
    method: Method = Field(default_factory=Method)
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    deepspeed: DeepSpeed = Field(default_factory=DeepSpeed)
    resources: Resources = Field(default_factory=Resources)
    storage: Storage = Field(default_factory=Storage)
    output: Output
    evaluation: Evaluation = Field(default_factory=Evaluation)
    checkpointing: Checkpointing = Field(default_factory=Checkpointing)
    tracking: Tracking = Field(default_factory=Tracking)
    pod_template: PodTemplate = Field(default_factory=PodTemplate)
    run_policy: RunPolicy = Field(default_factory=RunPolicy)
    queue_name: str = Field(
        default="", max_length=253, pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$"
    )
    image: str | None = Field(default=None, max_length=512, pattern=r"^[^\s]+$")
    """Trainer image; empty means the operator's default (which must be on its allow-list)."""

    @model_validator(mode="after")
    def _merge_needs_lora(self) -> FineTuneJobSpec:
        if self.output.merge and self.method.type != "lora":
            raise ValueError("spec.output.merge is only allowed with method.type lora")
        return self

    @model_validator(mode="after")
    def _batch_splits_over_the_world(self) -> FineTuneJobSpec:
        hp, world = self.hyperparameters, self.resources.world_size
        if hp.batch_size % world:
            raise ValueError(
                f"spec.hyperparameters.batchSize {hp.batch_size} must be divisible by the world "
                f"size {world} (resources.numNodes x resources.gpusPerNode, at least 1 per node)"
            )
        if hp.micro_batch_size is not None and hp.batch_size % (hp.micro_batch_size * world):
            raise ValueError(
                f"spec.hyperparameters.batchSize {hp.batch_size} must be divisible by "
                f"microBatchSize {hp.micro_batch_size} x the world size {world}"
            )
        return self


class JobMeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    name: str
    namespace: str = "default"
    uid: str | None = None


class FineTuneJob(BaseModel):
    """A whole FineTuneJob document: a user's manifest or the operator's rendered job.yaml."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)
    api_version: str = Field(default=API_VERSION, alias="apiVersion")
    kind: str = Field(default=KIND, pattern=f"^{KIND}$")
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
        """The document with every default resolved, as written to ``<job>-config/job.yaml``.

        The uid goes with it: the trainer stamps it on checkpoints and the manifest, so a retry
        recognises its own job's work and a re-created job of the same name does not."""
        uid = {"uid": self.metadata.uid} if self.metadata.uid else {}
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "schemaVersion": SCHEMA_VERSION,
            "metadata": {"name": self.metadata.name, "namespace": self.metadata.namespace, **uid},
            "spec": self.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        }


def parse_job(document: dict[str, Any], *, local: bool = False) -> FineTuneJob:
    """Parse a FineTuneJob document; raises pydantic.ValidationError naming the field.

    local: a run on this machine (``LOCAL_URIS``), whose URIs may also be ``file://``."""
    return FineTuneJob.model_validate(document, context={LOCAL_URIS: local})
