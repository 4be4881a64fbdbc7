"""The operator's command line: flags, their FINETUNE_* environment equivalents, and defaults.

The Helm chart passes these exact flag names; every flag can also come from the environment
(e.g. ``--max-running-per-namespace`` ↔ ``FINETUNE_MAX_RUNNING_PER_NAMESPACE``), repeatable flags
as comma-separated lists. A flag given on the command line wins over the environment.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_TRAINER_IMAGE = "ghcr.io/finetune-operator/finetune-trainer:0.1.0"
ENV_PREFIX = "FINETUNE_"


@dataclass(frozen=True)
class OperatorConfig:
    """Settings of one operator process."""

    namespaces: tuple[str, ...]
    """Namespaces (Kopf patterns allowed) to watch; empty watches the whole cluster."""
    trainer_image: str
    """Image used when a job's spec.image is unset."""
    allowed_images: tuple[str, ...]
    """Images a job may run: exact names, or prefixes ending in ``*``."""
    max_running_per_namespace: int
    """Training Jobs running at once per namespace; 0 is unlimited. Extra jobs wait as Queued."""
    default_s3_endpoint: str
    """AWS_ENDPOINT_URL for jobs whose spec.storage.endpoint is empty; empty means AWS."""
    log_level: str
    metrics_port: int
    """Port of the Prometheus /metrics endpoint; 0 disables it."""
    liveness_port: int
    """Port of Kopf's /healthz liveness endpoint; 0 disables it."""
    progress_interval: float
    """Seconds between polls of a running trainer's progress endpoint."""
    trainer_grace_period: int
    """terminationGracePeriodSeconds of training pods: after SIGTERM the trainer finishes its
    step and uploads a checkpoint, which must fit in this time or the work since the last
    checkpoint is lost."""
    blocked_pod_timeout: int
    """Seconds a validation or training pod may stay unable to start (image pull failure,
    missing Secret or key, unschedulable) before the job fails. Until someone fixes the cause
    such a pod waits, and would hold the job (and any quota) until its deadline."""
    stall_timeout: int
    """Seconds a Running job's training step may stay unchanged (as mirrored from rank 0's
    progress) before the job fails as Stalled; 0 never. A dead node or a hung collective leaves
    the pods Running, holding GPUs, until activeDeadlineSeconds."""

    def image_allowed(self, image: str) -> bool:
        """Whether the allow-list admits ``image`` (exact entry, or an entry ``prefix*``)."""
        return any(
            image.startswith(entry[:-1]) if entry.endswith("*") else image == entry
            for entry in self.allowed_images
        )


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    def default(flag: str, fallback: str) -> str:
        return env.get(ENV_PREFIX + flag.upper().replace("-", "_"), fallback)

    parser = argparse.ArgumentParser(
        prog="python -m finetune_operator",
        description="Run the FineTuneJob operator (Kopf) against KUBECONFIG or in-cluster config.",
    )
    parser.add_argument(
        "--namespace",
        action="append",
        default=None,
        metavar="NS",
        help="watch this namespace (repeatable, Kopf globs allowed); default: all namespaces",
    )
    parser.add_argument(
        "--trainer-image",
        default=default("trainer-image", DEFAULT_TRAINER_IMAGE),
        metavar="IMG",
        help="trainer image for jobs that set no spec.image (default: %(default)s)",
    )
    parser.add_argument(
        "--allowed-image",
        action="append",
        default=None,
        metavar="IMG_OR_PREFIX*",
        help="image a job may use, or a prefix ending in * (repeatable); "
        "default: the trainer image",
    )
    parser.add_argument(
        "--max-running-per-namespace",
        type=int,
        metavar="N",
        default=int(default("max-running-per-namespace", "0")),
        help="training Jobs running at once per namespace; 0 = unlimited (default: %(default)s)",
    )
    parser.add_argument(
        "--default-s3-endpoint",
        default=default("default-s3-endpoint", ""),
        metavar="URL",
        help="S3 endpoint for jobs that set none (default: AWS)",
    )
    parser.add_argument(
        "--log-level",
        default=default("log-level", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(default("metrics-port", "9090")),
        help="Prometheus /metrics port; 0 disables (default: %(default)s)",
    )
    parser.add_argument(
        "--liveness-port",
        type=int,
        default=int(default("liveness-port", "8080")),
        help="liveness /healthz port; 0 disables (default: %(default)s)",
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=float(default("progress-interval", "10")),
        metavar="SECONDS",
        help="seconds between trainer progress polls (default: %(default)s)",
    )
    parser.add_argument(
        "--trainer-grace-period",
        type=int,
        default=int(default("trainer-grace-period", "300")),
        metavar="SECONDS",
        help="terminationGracePeriodSeconds of training pods: time to checkpoint after SIGTERM "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--blocked-pod-timeout",
        type=int,
        default=int(default("blocked-pod-timeout", "300")),
        metavar="SECONDS",
        help="fail a job whose pod cannot start (image pull error, missing Secret or key, "
        "unschedulable) for this long (default: %(default)s)",
    )
    parser.add_argument(
        "--stall-timeout",
        type=int,
        default=int(default("stall-timeout", "1800")),
        metavar="SECONDS",
        help="fail a Running job whose training step has not advanced for this long; "
        "0 = never (default: %(default)s)",
    )
    return parser


def parse_config(argv: Sequence[str], env: Mapping[str, str]) -> OperatorConfig:
    """Build the configuration from command-line arguments and environment variables."""
    parser = _parser(env)
    args = parser.parse_args(argv)
    namespaces = args.namespace or _split(env.get(ENV_PREFIX + "NAMESPACE", ""))
    allowed = args.allowed_image or _split(env.get(ENV_PREFIX + "ALLOWED_IMAGE", ""))
    if args.max_running_per_namespace < 0:
        parser.error("--max-running-per-namespace must be >= 0")
    if args.progress_interval <= 0:
        parser.error("--progress-interval must be > 0")
    if args.trainer_grace_period < 0:
        parser.error("--trainer-grace-period must be >= 0")
    if args.blocked_pod_timeout <= 0:
        parser.error("--blocked-pod-timeout must be > 0")
    if args.stall_timeout < 0:
        parser.error("--stall-timeout must be >= 0")
    return OperatorConfig(
        namespaces=tuple(namespaces),
        trainer_image=args.trainer_image,
        allowed_images=tuple(allowed or [args.trainer_image]),
        max_running_per_namespace=args.max_running_per_namespace,
        default_s3_endpoint=args.default_s3_endpoint,
        log_level=args.log_level,
        metrics_port=args.metrics_port,
        liveness_port=args.liveness_port,
        progress_interval=args.progress_interval,
        trainer_grace_period=args.trainer_grace_period,
        blocked_pod_timeout=args.blocked_pod_timeout,
        stall_timeout=args.stall_timeout,
    )
