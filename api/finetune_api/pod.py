"""The trainer pod's contract: what the operator sets up and the trainer (or stand-in) relies on.

Ports, exit codes, where the job document is mounted, the termination message, the environment
variables and the scratch layout. The operator's builders write these into the pod spec; the
trainer and the stand-in read them back, so each name and number is spelled once, here.
"""

from __future__ import annotations

from typing import Final

RENDEZVOUS_PORT: Final = 29500
"""torchrun's rendezvous on training pod 0 (``MASTER_PORT``)."""
PROGRESS_PORT: Final = 8478
"""Global rank 0 serves ``GET PROGRESS_PATH`` here; the operator polls it."""
PROGRESS_PATH: Final = "/progress"
PROGRESS_MAX_BYTES: Final = 64 * 1024
"""The operator reads at most this much of a ``/progress`` body and refuses a longer one: a
report is a few hundred bytes, and the pod runs the tenant's code, so it is untrusted input."""

EXIT_PERMANENT: Final = 3
"""A permanent user error (bad dataset, model, credentials, config): the Job's
``podFailurePolicy`` fails it at once, without a retry. Any other non-zero code is retried."""
EXIT_STORAGE_UNAVAILABLE: Final = 75
"""S3 stayed unreachable past the trainer's retry budget (sysexits' EX_TEMPFAIL): retried like
any failure other than 3, and distinct from bad input in logs and ``kubectl get pods``."""
EXIT_PREEMPTED: Final = 143
"""SIGTERM arrived (preemption, drain, suspend, deletion); retried like any other failure."""

CONFIG_DIR: Final = "/etc/finetune"
"""Where the ``<job>-config`` ConfigMap is mounted."""
CONFIG_KEY: Final = "job.yaml"
JOB_FILE: Final = f"{CONFIG_DIR}/{CONFIG_KEY}"
"""The rendered job document, passed as ``--job``."""

TERMINATION_LOG: Final = "/dev/termination-log"
"""The container's ``terminationMessagePath``: one JSON summary (``reports``)."""
TERMINATION_MAX_BYTES: Final = 4096
"""Kubernetes keeps at most 4 KiB of a termination message."""

SCRATCH_DIR: Final = "/scratch"
"""Where the operator mounts the pod's writable emptyDir (the root filesystem is read-only)."""
SCRATCH_LAYOUT: Final = {
    "HOME": "home",
    "TMPDIR": "tmp",
    "XDG_CACHE_HOME": "cache",
    "HF_HOME": "hf",
    "HF_DATASETS_CACHE": "hf/datasets",
    "TORCH_EXTENSIONS_DIR": "torch-extensions",
    "TRITON_CACHE_DIR": "triton",
    "MPLCONFIGDIR": "matplotlib",
    "WANDB_DIR": "wandb",
}
"""Each variable that places a cache or temp dir the trainer's libraries write, and its
subdirectory of the scratch dir."""


class Env:
    """Names of the environment variables the operator sets and the trainer reads."""

    JOB_NAME: Final = "FINETUNE_JOB_NAME"
    NAMESPACE: Final = "FINETUNE_NAMESPACE"
    PROGRESS_PORT: Final = "FINETUNE_PROGRESS_PORT"
    """Overrides ``PROGRESS_PORT`` (tests bind port 0)."""
    POD_IP: Final = "POD_IP"
    """The progress server binds to it (downward API); unset binds every interface."""
    SCRATCH: Final = "FINETUNE_SCRATCH"
    """The scratch dir; the trainer puts every cache and work dir under it."""
    TERMINATION_LOG: Final = "FINETUNE_TERMINATION_LOG"
    """Overrides ``TERMINATION_LOG`` (runs outside a container)."""
    MASTER_ADDR: Final = "MASTER_ADDR"
    MASTER_PORT: Final = "MASTER_PORT"
    NNODES: Final = "NNODES"
    NODE_RANK: Final = "NODE_RANK"
    """The pod's completion index."""
    NPROC_PER_NODE: Final = "NPROC_PER_NODE"
    CPUS: Final = "FINETUNE_CPUS"
    """The pod's CPU allotment in whole CPUs (downward API ``resourceFieldRef``, rounded up):
    the trainer sizes its thread pools from it rather than from the node's core count."""
    TORCH_ELASTIC_SHUTDOWN_TIMEOUT: Final = "TORCH_ELASTIC_SHUTDOWN_TIMEOUT"
    """torchrun's wait after forwarding SIGTERM to the ranks."""
    AWS_ACCESS_KEY_ID: Final = "AWS_ACCESS_KEY_ID"
    AWS_SECRET_ACCESS_KEY: Final = "AWS_SECRET_ACCESS_KEY"
    AWS_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"
    AWS_REGION: Final = "AWS_REGION"
    HF_TOKEN: Final = "HF_TOKEN"
    """The Hub token, from ``spec.baseModel.hfTokenSecretRef`` (``huggingface_hub`` reads it)."""
    HF_ENDPOINT: Final = "HF_ENDPOINT"
    """The Hub (or a mirror) that ``hf://`` models come from; unset is huggingface.co."""


class TrackingEnv:
    """Experiment trackers' variables (``spec.tracking``): the trainer sets the settings from
    the job document, the operator the credentials, as ``secretKeyRef`` of the named Secret."""

    MLFLOW_TRACKING_URI: Final = "MLFLOW_TRACKING_URI"
    MLFLOW_EXPERIMENT_NAME: Final = "MLFLOW_EXPERIMENT_NAME"
    MLFLOW_CREDENTIALS: Final = (
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
    )
    """Keys of spec.tracking.mlflow.secretRef, each optional: a user and password, or a token."""
    WANDB_PROJECT: Final = "WANDB_PROJECT"
    WANDB_ENTITY: Final = "WANDB_ENTITY"
    WANDB_API_KEY: Final = "WANDB_API_KEY"
    """The key of spec.tracking.wandb.secretRef."""


TENSORBOARD_LOGGING_DIR: Final = "TENSORBOARD_LOGGING_DIR"
"""Where transformers' TensorBoard callback writes event files; the trainer sets it to its
workspace when spec.tracking.tensorboard is on."""

TRAINER_SET_ENV: Final = frozenset(
    {value for key, value in vars(Env).items() if key.isupper()}
    | {v for k, v in vars(TrackingEnv).items() if isinstance(v, str) and k.isupper()}
    | set(TrackingEnv.MLFLOW_CREDENTIALS)
    | set(SCRATCH_LAYOUT)
    | {
        "JOB_COMPLETION_INDEX",
        "RANK",
        "LOCAL_RANK",
        "WORLD_SIZE",
        "LOCAL_WORLD_SIZE",
        "ACCELERATE_USE_DEEPSPEED",
        "DS_ACCELERATOR",
        TENSORBOARD_LOGGING_DIR,
    }
)
"""Variables the operator, the Job controller, torchrun or the trainer itself set: a user's
value (``spec.podTemplate.env``) would be overridden, or would break the run."""
TRAINER_SET_ENV_PREFIXES: Final = ("AWS_", "HF_")
"""Prefixes of the S3 credentials and settings (from ``spec.storage``) and of the Hugging Face
caches and Hub settings (the trainer places the caches; ``HF_TOKEN`` and ``HF_ENDPOINT`` come from
``spec.baseModel`` and the operator)."""
