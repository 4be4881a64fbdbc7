"""Pure builders of a FineTuneJob's children: plain dicts, ready to send to the apiserver.

Each builder takes the parsed job (defaults resolved) and returns one manifest with a
deterministic name, our own labels and a controlling ownerReference, so deleting the FineTuneJob
garbage-collects it. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from finetune_api import pod
from finetune_api.jobspec import FineTuneJob
from finetune_api.pod import Env, TrackingEnv
from finetune_api.podtemplate import PodTemplate
from finetune_api.resource import API_VERSION, KIND
from finetune_operator import names

Manifest = dict[str, Any]
YAML_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's emitter where PyYAML was built with it (its wheels are): the pure-Python one took
15 of the 17 ms a new job's first pass costs (profiled over 500 jobs)."""

VALIDATE_DEADLINE_SECONDS = 3600
"""Validation reads the dataset once on a CPU; an hour means something is stuck."""
VALIDATE_MEMORY_LIMIT = "4Gi"
"""Memory limit of the validation pod when spec.resources.memory is unset: it streams the
dataset and loads only the tokenizer, so more means something is wrong."""
VALIDATE_BACKOFF_LIMIT = 1
"""One retry covers a transient S3 or node failure; permanent errors (exit 3) fail at once."""


@dataclass(frozen=True)
class TrainerRuntime:
    """What the operator adds to every trainer pod besides the job itself."""

    image: str
    s3_endpoint: str
    """AWS_ENDPOINT_URL: the job's spec.storage.endpoint, else the operator's default."""
    grace_period_seconds: int
    """terminationGracePeriodSeconds of training pods: time to checkpoint after SIGTERM."""
    cpu_request: str = ""
    """CPU request of trainer pods whose spec.resources.cpu is empty; "" for none."""
    memory_request: str = ""
    """Memory request of trainer pods whose spec.resources.memory is empty; "" for none."""
    shm_size_limit: str = ""
    """sizeLimit of the memory-backed /dev/shm emptyDir; "" for none."""
    scratch_size_limit: str = ""
    """sizeLimit of the /scratch emptyDir; "" for none."""
    hf_endpoint: str = ""
    """HF_ENDPOINT for jobs whose base model is on the Hub (hf://); "" for huggingface.co."""
    operator_peer: OperatorPeer | None = None
    """Where the operator's pods are: with it, each job gets a NetworkPolicy that lets into its
    training pods only their own job's pods and the operator; None creates none."""


@dataclass(frozen=True)
class OperatorPeer:
    """The operator's pods, as a NetworkPolicy peer: their namespace and labels."""

    namespace: str
    pod_labels: tuple[tuple[str, str], ...]


def owner_reference(job: FineTuneJob) -> dict[str, Any]:
    if not job.metadata.uid:
        raise ValueError(f"FineTuneJob {job.metadata.name} has no uid; cannot own children")
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": job.metadata.name,
        "uid": job.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(job: FineTuneJob, name: str, role: names.Role) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": job.metadata.namespace,
        "labels": names.child_labels(job.metadata.name, role),
        "ownerReferences": [owner_reference(job)],
    }


def _config_map(job: FineTuneJob, name: str) -> Manifest:
    document = yaml.dump(job.rendered(), Dumper=YAML_DUMPER, sort_keys=False)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(job, name, "config"),
        "data": {pod.CONFIG_KEY: document},
    }


def build_config_map(job: FineTuneJob) -> Manifest:
    """``<job>-config``: the rendered job document the validator reads, and the trainer too
    unless its base model is pinned (``build_train_config_map``)."""
    return _config_map(job, names.config_map_name(job.metadata.name))


def pinned_job(job: FineTuneJob, revision: str | None) -> FineTuneJob | None:
    """The job as its training pods must read it: an hf:// base model at ``revision``, the
    commit the validation pod resolved its branch or tag to (``status.baseModel.revision``).
    The branch may move between validation and training, or between two attempts; pinned, every
    attempt trains the model that was validated (and a commit gone from the Hub fails
    ``InvalidModel`` instead of training another). None when there is nothing to pin: an S3
    model, a validator that reported no commit (older trainer images: training resolves the
    revision itself), or a URI already at that commit. The spec itself is never changed."""
    base = job.spec.base_model
    if not revision or not base.from_hub:
        return None
    uri = f"{base.uri.partition('@')[0]}@{revision}"
    if uri == base.uri:
        return None
    # Validated like the spec: a revision that is not a ref the pattern allows raises here.
    pinned = base.model_validate({**base.model_dump(), "uri": uri})
    return job.model_copy(update={"spec": job.spec.model_copy(update={"base_model": pinned})})


def build_train_config_map(pinned: FineTuneJob) -> Manifest:
    """``<job>-train-config``: the training pods' job document, ``pinned_job``'s."""
    return _config_map(pinned, names.train_config_map_name(pinned.metadata.name))


def build_service(job: FineTuneJob) -> Manifest:
    """Headless Service giving training pods stable DNS names for the rendezvous."""
    name = job.metadata.name
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(job, names.service_name(name), "train"),
        "spec": {
            "clusterIP": "None",
            # Pods must resolve each other before they are ready: the rendezvous is what
            # makes them ready.
            "publishNotReadyAddresses": True,
            "selector": {names.LABEL_JOB: name, names.LABEL_ROLE: "train"},
            "ports": [
                {"name": "rendezvous", "port": pod.RENDEZVOUS_PORT, "protocol": "TCP"},
                {"name": "progress", "port": pod.PROGRESS_PORT, "protocol": "TCP"},
            ],
        },
    }


def build_network_policy(job: FineTuneJob, runtime: TrainerRuntime) -> Manifest:
    """``<job>-train``: ingress to the training pods only from the same job's training pods
    (rendezvous and collectives, any port) and from the operator's pods (the progress port).
    Another tenant's pod cannot join the rendezvous, read progress or reach the collectives.
    Egress stays open: S3, the Hub and tracking servers are the job's own choice."""
    peer = runtime.operator_peer
    if peer is None:
        raise ValueError("a trainer NetworkPolicy needs the operator's namespace and labels")
    name = job.metadata.name
    training_pods = {"matchLabels": {names.LABEL_JOB: name, names.LABEL_ROLE: "train"}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(job, names.service_name(name), "train"),
        "spec": {
            "podSelector": training_pods,
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"podSelector": training_pods}]},
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {names.LABEL_NAMESPACE_NAME: peer.namespace}
                            },
                            "podSelector": {"matchLabels": dict(peer.pod_labels)},
                        }
                    ],
                    "ports": [{"port": pod.PROGRESS_PORT, "protocol": "TCP"}],
                },
            ],
        },
    }


def _env(job: FineTuneJob, runtime: TrainerRuntime) -> list[dict[str, Any]]:
    """Environment common to validation and training (docs/architecture.md)."""
    storage = job.spec.storage
    env: list[dict[str, Any]] = [
        {"name": Env.JOB_NAME, "value": job.metadata.name},
        {"name": Env.NAMESPACE, "value": job.metadata.namespace},
        {"name": Env.PROGRESS_PORT, "value": str(pod.PROGRESS_PORT)},
        {"name": Env.POD_IP, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        # The trainer places HOME, TMPDIR and every cache under it (read-only root filesystem).
        {"name": Env.SCRATCH, "value": pod.SCRATCH_DIR},
    ]
    if storage.secret_ref is not None:
        # Credentials reach the pod straight from the Secret; the operator never reads them.
        env += [
            {
                "name": key,
                "valueFrom": {"secretKeyRef": {"name": storage.secret_ref.name, "key": key}},
            }
            for key in (Env.AWS_ACCESS_KEY_ID, Env.AWS_SECRET_ACCESS_KEY)
        ]
    endpoint = storage.endpoint or runtime.s3_endpoint
    if endpoint:
        env.append({"name": Env.AWS_ENDPOINT_URL, "value": endpoint})
    if storage.region:
        env.append({"name": Env.AWS_REGION, "value": storage.region})
    return env + _hub_env(job, runtime)


def _hub_env(job: FineTuneJob, runtime: TrainerRuntime) -> list[dict[str, Any]]:
    """Where an hf:// base model comes from, and the token from the job's own Secret."""
    base_model = job.spec.base_model
    if not base_model.from_hub:
        return []
    env: list[dict[str, Any]] = []
    if runtime.hf_endpoint:
        env.append({"name": Env.HF_ENDPOINT, "value": runtime.hf_endpoint})
    token = base_model.hf_token_secret_ref
    if token is not None:
        # Like the S3 credentials: straight from the Secret; the operator never reads it.
        ref = {"name": token.name, "key": token.key}
        env.append({"name": Env.HF_TOKEN, "valueFrom": {"secretKeyRef": ref}})
    return env


def _secret_env(secret: str, keys: tuple[str, ...], *, optional: bool) -> list[dict[str, Any]]:
    return [
        {
            "name": key,
            "valueFrom": {
                "secretKeyRef": {"name": secret, "key": key}
                | ({"optional": True} if optional else {})
            },
        }
        for key in keys
    ]


def _tracking_env(job: FineTuneJob) -> list[dict[str, Any]]:
    """Tracker credentials of the training pods, straight from the Secrets the spec names (the
    trainer takes the trackers' settings from the job document). The MLflow keys are each
    optional: a user and password, or a token."""
    tracking = job.spec.tracking
    env: list[dict[str, Any]] = []
    if tracking.mlflow is not None and tracking.mlflow.secret_ref is not None:
        secret = tracking.mlflow.secret_ref.name
        env += _secret_env(secret, TrackingEnv.MLFLOW_CREDENTIALS, optional=True)
    if tracking.wandb is not None and tracking.wandb.secret_ref is not None:
        secret = tracking.wandb.secret_ref.name
        env += _secret_env(secret, (TrackingEnv.WANDB_API_KEY,), optional=False)
    return env


def _rendezvous_env(job: FineTuneJob) -> list[dict[str, Any]]:
    name = job.metadata.name
    resources = job.spec.resources
    return [
        {"name": Env.MASTER_ADDR, "value": names.master_addr(name)},
        {"name": Env.MASTER_PORT, "value": str(pod.RENDEZVOUS_PORT)},
        {"name": Env.NNODES, "value": str(resources.num_nodes)},
        {
            "name": Env.NODE_RANK,
            "valueFrom": {
                "fieldRef": {
                    "fieldPath": f"metadata.annotations['{names.COMPLETION_INDEX_ANNOTATION}']"
                }
            },
        },
        {"name": Env.NPROC_PER_NODE, "value": str(resources.procs_per_node)},
    ]


def _cpus_env(resources: dict[str, Any]) -> dict[str, Any]:
    """The pod's CPU allotment for the trainer's thread pools (``Env.CPUS``).

    The request when there is one: the builders set no CPU limit, and a missing limit reads as
    the node's allocatable CPUs, so threads sized from it would oversubscribe a shared node
    (OpenMP threads wait for each other at every operator: one neighbour on a core made a
    step about ten times slower). Only without a request does the limit, i.e. the node, count.
    Divisor 1 rounds a fractional allotment up (500m → 1).
    """
    field = "requests.cpu" if "cpu" in resources.get("requests", {}) else "limits.cpu"
    return {
        "name": Env.CPUS,
        "valueFrom": {
            "resourceFieldRef": {
                "containerName": names.CONTAINER_NAME,
                "resource": field,
                "divisor": "1",
            }
        },
    }


_CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "fsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _empty_dir(size_limit: str, **fields: str) -> dict[str, str]:
    return {**fields, "sizeLimit": size_limit} if size_limit else dict(fields)


def _pod_spec(
    job: FineTuneJob,
    runtime: TrainerRuntime,
    args: list[str],
    env: list[dict[str, Any]],
    resources: dict[str, Any],
    *,
    config_map: str,
) -> dict[str, Any]:
    """A restricted-profile pod running the trainer image's entry point with ``args`` on the job
    document in ``config_map``, placed where the job asks (validation pods too: a namespace
    confined to tainted or labelled nodes, or to a priority class, must be able to run its
    validation as well)."""
    container: dict[str, Any] = {
        "name": names.CONTAINER_NAME,
        "image": runtime.image,
        "args": args,
        "env": env,
        "resources": resources,
        "securityContext": dict(_CONTAINER_SECURITY),
        "terminationMessagePath": pod.TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "volumeMounts": [
            {"name": "config", "mountPath": pod.CONFIG_DIR, "readOnly": True},
            {"name": "scratch", "mountPath": pod.SCRATCH_DIR},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": dict(_POD_SECURITY),
        "containers": [container],
        "volumes": [
            {
                "name": "config",
                "configMap": {
                    "name": config_map,
                    "items": [{"key": pod.CONFIG_KEY, "path": pod.CONFIG_KEY}],
                },
            },
            # Limits keep one job from filling the node's disk or memory: past them the kubelet
            # evicts the pod (and the Job retries it) instead of starving its neighbours.
            {"name": "scratch", "emptyDir": _empty_dir(runtime.scratch_size_limit)},
            {"name": "dshm", "emptyDir": _empty_dir(runtime.shm_size_limit, medium="Memory")},
        ],
    }
    _apply_pod_template(pod_spec, job.spec.pod_template)
    placement = job.spec.resources
    if placement.node_selector:
        pod_spec["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        pod_spec["tolerations"] = [t.model_dump(exclude_none=True) for t in placement.tolerations]
    if placement.priority_class_name:
        pod_spec["priorityClassName"] = placement.priority_class_name
    return pod_spec


def _apply_pod_template(pod_spec: dict[str, Any], template: PodTemplate) -> None:
    """The user's spec.podTemplate: identity, pull secrets, extra env and affinity. The model
    refused env names the operator or trainer set, so appending cannot shadow one."""
    if template.service_account_name:
        pod_spec["serviceAccountName"] = template.service_account_name
        # The user chose this identity for the pods, so its token is mounted: identity
        # integrations read it (Vault's Kubernetes auth, token exchanges; IRSA set-ups whose
        # account opts out of automounting). The default account's token stays unmounted:
        # the trainer never calls the Kubernetes API, and it would be a credential nobody chose.
        pod_spec["automountServiceAccountToken"] = True
    if template.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s.name} for s in template.image_pull_secrets]
    if template.env:
        pod_spec["containers"][0]["env"] += [
            e.model_dump(mode="json", by_alias=True, exclude_none=True) for e in template.env
        ]
    if template.affinity is not None:
        pod_spec["affinity"] = template.affinity.model_dump(by_alias=True, exclude_none=True)


def _pod_metadata(job: FineTuneJob, role: names.Role) -> dict[str, Any]:
    """The pod template's metadata: the user's labels under the operator's own, which win (the
    model also refuses their keys), and the user's annotations."""
    template = job.spec.pod_template
    metadata: dict[str, Any] = {
        "labels": {**template.labels, **names.child_labels(job.metadata.name, role)}
    }
    if template.annotations:
        metadata["annotations"] = dict(template.annotations)
    return metadata


def _permanent_error_rule() -> dict[str, Any]:
    """Exit code 3 is a permanent user error: fail the Job at once, no retry."""
    return {
        "action": "FailJob",
        "onExitCodes": {
            "containerName": names.CONTAINER_NAME,
            "operator": "In",
            "values": [pod.EXIT_PERMANENT],
        },
    }


def build_validate_job(job: FineTuneJob, runtime: TrainerRuntime) -> Manifest:
    """``<job>-validate``: CPU-only check of dataset and model before any GPU is requested."""
    name = names.validate_job_name(job.metadata.name)
    pod_spec = _pod_spec(
        job,
        runtime,
        ["validate", "--job", pod.JOB_FILE],
        _env(job, runtime),
        _cpu_memory(job, runtime, default_memory_limit=VALIDATE_MEMORY_LIMIT),
        config_map=names.config_map_name(job.metadata.name),
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(job, name, "validate"),
        "spec": {
            "backoffLimit": VALIDATE_BACKOFF_LIMIT,
            "activeDeadlineSeconds": VALIDATE_DEADLINE_SECONDS,
            "podFailurePolicy": {"rules": [_permanent_error_rule()]},
            "template": {"metadata": _pod_metadata(job, "validate"), "spec": pod_spec},
        },
    }


def _cpu_memory(
    job: FineTuneJob, runtime: TrainerRuntime, *, default_memory_limit: str = ""
) -> dict[str, Any]:
    """CPU and memory of a trainer pod: spec.resources.cpu (request) and memory (request and
    limit), else the operator's default requests, so no pod is BestEffort."""
    spec = job.spec.resources
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if cpu := spec.cpu or runtime.cpu_request:
        requests["cpu"] = cpu
    if spec.memory:
        requests["memory"] = spec.memory
        limits["memory"] = spec.memory
    else:
        if runtime.memory_request:
            requests["memory"] = runtime.memory_request
        if default_memory_limit:
            limits["memory"] = default_memory_limit
    return {key: value for key, value in (("requests", requests), ("limits", limits)) if value}


def _train_resources(job: FineTuneJob, runtime: TrainerRuntime) -> dict[str, Any]:
    spec = job.spec.resources
    resources = _cpu_memory(job, runtime)
    if spec.gpus_per_node > 0:
        gpus = {spec.gpu_resource: str(spec.gpus_per_node)}
        resources["requests"] = gpus | resources.get("requests", {})
        resources["limits"] = gpus | resources.get("limits", {})
    return resources


TRAIN_RULE_PERMANENT = 0
"""Index of the training Job's podFailurePolicy rule for exit code 3 (a permanent user error).
The Job controller names the matching rule's index in the Job's Failed message, which is how
the operator tells the three apart once the pods are gone (``attempts``)."""
TRAIN_RULE_DISRUPTION = 1
"""Index of the rule for a pod with condition DisruptionTarget (preempted, evicted, node gone)."""
TRAIN_RULE_EXIT = 2
"""Index of the rule for any other non-zero exit code."""


def _train_failure_rules() -> list[dict[str, Any]]:
    """Every failure of any rank ends the training Job at once (``FailJob``), so the whole group
    stops together: a rank replaced alone could not rejoin torchrun's static rendezvous and the
    others would hang in their collectives. The operator then decides, from the rule that
    matched, whether the FineTuneJob fails (exit 3) or the next attempt starts, and whether that
    restart counts against runPolicy.backoffLimit (not for a disruption)."""
    rules: list[dict[str, Any]] = [
        _permanent_error_rule(),
        {"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget"}]},
        {
            "action": "FailJob",
            "onExitCodes": {
                "containerName": names.CONTAINER_NAME,
                "operator": "NotIn",
                "values": [0],
            },
        },
    ]
    return rules


def build_train_job(
    job: FineTuneJob,
    runtime: TrainerRuntime,
    *,
    suspend: bool,
    attempt: int = 1,
    active_deadline_seconds: int | None = None,
    base_model_revision: str | None = None,
) -> Manifest:
    """``<job>-train``: an Indexed Job, one pod per node, ranks from the completion index.

    ``suspend`` is the initial value only: with a queueName Kueue owns it afterwards.
    ``attempt`` (annotation ``names.ATTEMPT_ANNOTATION``) numbers the FineTuneJob's attempts:
    each is a new Job under the same name, so pod hostnames, the headless Service and
    ``MASTER_ADDR`` stay the same. ``active_deadline_seconds`` is what remains of
    runPolicy.activeDeadlineSeconds for a later attempt (default: all of it).
    ``base_model_revision``: the commit validation resolved an hf:// base model to; the pods
    then mount ``build_train_config_map``'s document, pinned to it (``pinned_job``).
    """
    name = job.metadata.name
    spec = job.spec
    metadata = _metadata(job, names.train_job_name(name), "train")
    metadata["annotations"] = {names.ATTEMPT_ANNOTATION: str(attempt)}
    if spec.queue_name:
        metadata["labels"][names.LABEL_KUEUE_QUEUE] = spec.queue_name
    # SIGTERM (preemption, drain, suspend) makes the trainer finish its step and upload a
    # checkpoint; the default 30 s would cut that short and lose the work since the last one.
    # torchrun, which forwards SIGTERM to the ranks, must wait as long before killing them.
    grace = spec.pod_template.termination_grace_period_seconds or runtime.grace_period_seconds
    shutdown = {"name": Env.TORCH_ELASTIC_SHUTDOWN_TIMEOUT, "value": str(grace)}
    resources = _train_resources(job, runtime)
    pinned = pinned_job(job, base_model_revision) is not None
    config_map = (names.train_config_map_name if pinned else names.config_map_name)(name)
    pod_spec = _pod_spec(
        job,
        runtime,
        ["train", "--job", pod.JOB_FILE],
        [
            *_env(job, runtime),
            *_rendezvous_env(job),
            shutdown,
            _cpus_env(resources),
            *_tracking_env(job),
        ],
        resources,
        config_map=config_map,
    )
    pod_spec["subdomain"] = names.service_name(name)
    pod_spec["terminationGracePeriodSeconds"] = grace
    pod_spec["containers"][0]["ports"] = [
        {"name": "rendezvous", "containerPort": pod.RENDEZVOUS_PORT, "protocol": "TCP"},
        {"name": "progress", "containerPort": pod.PROGRESS_PORT, "protocol": "TCP"},
    ]
    nodes = spec.resources.num_nodes
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "completionMode": "Indexed",
            "completions": nodes,
            "parallelism": nodes,
            # The operator counts failed attempts against runPolicy.backoffLimit; a pod that
            # fails without matching a rule (no exit code) ends this attempt too.
            "backoffLimit": 0,
            "activeDeadlineSeconds": active_deadline_seconds
            or spec.run_policy.active_deadline_seconds,
            "suspend": suspend,
            "podFailurePolicy": {"rules": _train_failure_rules()},
            "template": {"metadata": _pod_metadata(job, "train"), "spec": pod_spec},
        },
    }
