"""The operator's command line: flags, their FINETUNE_* environment equivalents, and defaults.

The Helm chart passes these exact flag names; every flag can also come from the environment
(e.g. ``--max-running-per-namespace`` ↔ ``FINETUNE_MAX_RUNNING_PER_NAMESPACE``), repeatable flags
as comma-separated lists. A flag given on the command line wins over the environment.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from finetune_api.jobspec import Resources
from finetune_operator.builders import OperatorPeer

DEFAULT_TRAINER_IMAGE = "ghcr.io/finetune-operator/finetune-trainer:0.1.0"
ENV_PREFIX = "FINETUNE_"
_CPU = re.compile(Resources.model_fields["cpu"].metadata[-1].pattern)
_MEMORY = re.compile(Resources.model_fields["memory"].metadata[-1].pattern)


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
    hf_endpoint: str
    """HF_ENDPOINT of trainer pods: the Hugging Face Hub (or a mirror) ``hf://`` base models
    come from; empty leaves huggingface_hub's default, https://huggingface.co."""
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
    leftover_ranks_grace: int
    """Seconds the other ranks of a succeeded job may keep running before they are stopped."""
    require_secret_ref: bool = True
    """Refuse a job without spec.storage.secretRef before creating any pod: without one the
    pods reach S3 with the node's cloud identity (instance profile, workload identity)."""
    allowed_s3_endpoints: tuple[str, ...] = ()
    """Endpoints a job may name in spec.storage.endpoint besides the default one; ``*`` allows
    any. Empty: only the default (an empty spec.storage.endpoint)."""
    default_cpu_request: str = "500m"
    """CPU request of trainer pods whose spec.resources.cpu is empty ("" for none): a pod with
    no request is BestEffort, first to be evicted and scheduled onto full nodes."""
    default_memory_request: str = "1Gi"
    """Memory request of trainer pods whose spec.resources.memory is empty ("" for none); no
    limit comes with it (spec.resources.memory sets both)."""
    shm_size_limit: str = "2Gi"
    """sizeLimit of the memory-backed /dev/shm emptyDir ("" for none); it counts against the
    pod's memory."""
    scratch_size_limit: str = "100Gi"
    """sizeLimit of the /scratch emptyDir (model, data and checkpoint copies; "" for none): past
    it the kubelet evicts the pod instead of filling the node's disk."""
    peering: str = ""
    """Name of the ClusterKopfPeering shared by the replicas; only the one started first acts,
    the others wait (``finetune_operator.peering``). Empty: standalone, one replica only."""
    peering_lifetime: int = 30
    """Seconds a replica's keep-alive counts: a replica that dies without a word is replaced by
    a waiting one after this long."""
    operator_peer: OperatorPeer | None = None
    """The operator's own namespace and pod labels, given with --trainer-network-policy: each
    job's training pods then admit traffic only from their job's pods and from these."""
    audit_interval: float = 60.0
    """Seconds between two checks, per namespace, that what the operator holds (indexed Jobs
    and pods, followed FineTuneJobs) still exists in the apiserver (``watch_gaps``)."""

    def image_allowed(self, image: str) -> bool:
        """Whether the allow-list admits ``image`` (exact entry, or an entry ``prefix*``)."""
        return any(
            image.startswith(entry[:-1]) if entry.endswith("*") else image == entry
            for entry in self.allowed_images
        )


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _boolean(value: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no), as the chart and the environment pass them."""
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {value!r}")


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
        "--hf-endpoint",
        default=default("hf-endpoint", ""),
        metavar="URL",
        help="Hugging Face Hub (or mirror) for hf:// base models (default: huggingface.co)",
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
    parser.add_argument(
        "--leftover-ranks-grace",
        type=int,
        default=int(default("leftover-ranks-grace", "120")),
        metavar="SECONDS",
        help="once rank 0 has published, stop the ranks still running after this long "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--trainer-network-policy",
        type=_boolean,
        default=default("trainer-network-policy", "false"),
        metavar="true|false",
        help="give each job a NetworkPolicy: ingress to its training pods only from the same "
        "job's pods and from the operator (needs --operator-namespace and "
        "--operator-pod-labels) (default: %(default)s)",
    )
    parser.add_argument(
        "--operator-namespace",
        default=default("operator-namespace", ""),
        metavar="NAMESPACE",
        help="the namespace the operator's pods run in",
    )
    parser.add_argument(
        "--operator-pod-labels",
        default=default("operator-pod-labels", ""),
        metavar="KEY=VALUE,...",
        help="labels that select the operator's pods",
    )
    parser.add_argument(
        "--audit-interval",
        type=float,
        default=float(default("audit-interval", "60")),
        metavar="SECONDS",
        help="how often, per namespace, to drop what the operator still holds but the apiserver "
        "deleted while a watch was broken (default: %(default)s)",
    )
    parser.add_argument(
        "--require-secret-ref",
        type=_boolean,
        default=default("require-secret-ref", "true"),  # argparse applies `type` to it
        metavar="true|false",
        help="refuse jobs without spec.storage.secretRef, whose pods would use the node's "
        "cloud identity (default: %(default)s)",
    )
    parser.add_argument(
        "--allowed-s3-endpoint",
        action="append",
        default=None,
        metavar="URL",
        help="endpoint a job may set in spec.storage.endpoint besides the default one "
        "(repeatable; * = any); default: only the default endpoint",
    )
    parser.add_argument(
        "--peering",
        default=default("peering", ""),
        metavar="NAME",
        help="ClusterKopfPeering shared by the operator's replicas: only one acts, the others "
        "wait to take over; the object must exist. Default: standalone (one replica only)",
    )
    parser.add_argument(
        "--peering-lifetime",
        type=int,
        default=int(default("peering-lifetime", "30")),
        metavar="SECONDS",
        help="a replica not heard of for this long is taken over from (default: %(default)s)",
    )
    for flag, fallback, what in (
        ("default-cpu-request", "500m", "CPU request of trainer pods without spec.resources.cpu"),
        (
            "default-memory-request",
            "1Gi",
            "memory request of trainer pods without spec.resources.memory",
        ),
        ("shm-size-limit", "2Gi", "sizeLimit of the trainer pods' /dev/shm"),
        ("scratch-size-limit", "100Gi", "sizeLimit of the trainer pods' /scratch"),
    ):
        parser.add_argument(
            f"--{flag}",
            default=default(flag, fallback),
            metavar="QUANTITY",
            help=f'{what}; "" for none (default: %(default)s)',
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
    if args.leftover_ranks_grace < 0:
        parser.error("--leftover-ranks-grace must be >= 0")
    if args.audit_interval <= 0:
        parser.error("--audit-interval must be > 0")
    if args.peering_lifetime < 10:
        parser.error("--peering-lifetime must be >= 10 (keep-alives go 5-10 s before it ends)")
    quantities = {
        "--default-cpu-request": (args.default_cpu_request, _CPU),
        "--default-memory-request": (args.default_memory_request, _MEMORY),
        "--shm-size-limit": (args.shm_size_limit, _MEMORY),
        "--scratch-size-limit": (args.scratch_size_limit, _MEMORY),
    }
    for flag, (value, pattern) in quantities.items():
        if value and not pattern.fullmatch(value):
            parser.error(f"{flag} {value!r} is not a Kubernetes quantity")
    peer = None
    if args.trainer_network_policy:
        labels = [item.partition("=") for item in _split(args.operator_pod_labels)]
        if not args.operator_namespace or not labels or any(not k or not v for k, _, v in labels):
            parser.error(
                "--trainer-network-policy needs --operator-namespace and --operator-pod-labels "
                "KEY=VALUE,..."
            )
        peer = OperatorPeer(args.operator_namespace, tuple((k, v) for k, _, v in labels))
    endpoints = args.allowed_s3_endpoint or _split(env.get(ENV_PREFIX + "ALLOWED_S3_ENDPOINT", ""))
    return OperatorConfig(
        namespaces=tuple(namespaces),
        trainer_image=args.trainer_image,
        allowed_images=tuple(allowed or [args.trainer_image]),
        max_running_per_namespace=args.max_running_per_namespace,
        default_s3_endpoint=args.default_s3_endpoint,
        hf_endpoint=args.hf_endpoint,
        log_level=args.log_level,
        metrics_port=args.metrics_port,
        liveness_port=args.liveness_port,
        progress_interval=args.progress_interval,
        trainer_grace_period=args.trainer_grace_period,
        blocked_pod_timeout=args.blocked_pod_timeout,
        stall_timeout=args.stall_timeout,
        leftover_ranks_grace=args.leftover_ranks_grace,
        require_secret_ref=args.require_secret_ref,
        allowed_s3_endpoints=tuple(endpoints),
        default_cpu_request=args.default_cpu_request,
        default_memory_request=args.default_memory_request,
        shm_size_limit=args.shm_size_limit,
        scratch_size_limit=args.scratch_size_limit,
        peering=args.peering,
        peering_lifetime=args.peering_lifetime,
        operator_peer=peer,
        audit_interval=args.audit_interval,
    )
