"""Manifest builders: pure functions from the parsed job to child manifests."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.support.manifests import finetunejob

from finetune_api import pod
from finetune_api.jobspec import FineTuneJob, parse_job
from finetune_operator import builders, names

RUNTIME = builders.TrainerRuntime(
    image="registry.example/finetune-trainer:1",
    s3_endpoint="",
    grace_period_seconds=300,
    cpu_request="500m",
    memory_request="1Gi",
    shm_size_limit="2Gi",
    scratch_size_limit="100Gi",
)
"""The operator's defaults (chart values trainer.defaultRequests, shmSizeLimit, ...)."""
GITOPS_LABELS = {"argocd.argoproj.io/instance": "team-a"}


def job_with(**spec: Any) -> FineTuneJob:
    return parse_job(finetunejob("support-lora", uid="uid-1", labels=GITOPS_LABELS, **spec))


def env_of(manifest: dict[str, Any]) -> dict[str, Any]:
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
    return spec


OWNER = {
    "apiVersion": "finetune.dev/v1alpha1",
    "kind": "FineTuneJob",
    "name": "support-lora",
    "uid": "uid-1",
    "controller": True,
    "blockOwnerDeletion": True,
}


@pytest.mark.parametrize(
    ("build", "name", "role"),
    [
        (builders.build_config_map, "support-lora-config", "config"),
        (builders.build_train_config_map, "support-lora-train-config", "config"),
        (builders.build_service, "support-lora-train", "train"),
        (lambda j: builders.build_validate_job(j, RUNTIME), "support-lora-validate", "validate"),
        (
            lambda j: builders.build_train_job(j, RUNTIME, suspend=False),
            "support-lora-train",
            "train",
        ),
    ],
    ids=["config", "train-config", "service", "validate", "train"],
)
def test_children_have_names_owner_and_own_labels(build: Any, name: str, role: str) -> None:
    manifest = build(job_with())
    assert manifest["metadata"]["name"] == name
    assert manifest["metadata"]["namespace"] == "team-a"
    assert manifest["metadata"]["ownerReferences"] == [OWNER]
    assert manifest["metadata"]["labels"] == {
        "app.kubernetes.io/name": "finetune-trainer",
        "app.kubernetes.io/managed-by": "finetune-operator",
        "finetune.dev/job": "support-lora",
        "finetune.dev/role": role,
    }
    if manifest["kind"] == "Job":
        assert manifest["spec"]["template"]["metadata"]["labels"] == manifest["metadata"]["labels"]


def test_config_map_carries_the_rendered_job() -> None:
    job = job_with()
    data = builders.build_config_map(job)["data"]
    document = yaml.safe_load(data["job.yaml"])
    assert document == job.rendered()
    assert parse_job(document) == parse_job(
        {
            **job.rendered(),
            "metadata": {"name": "support-lora", "namespace": "team-a", "uid": job.metadata.uid},
        }
    )


SHA = "0123456789abcdef0123456789abcdef01234567"


def config_map_of(manifest: dict[str, Any]) -> str:
    volumes = {v["name"]: v for v in pod_spec(manifest)["volumes"]}
    name: str = volumes["config"]["configMap"]["name"]
    return name


@pytest.mark.parametrize(
    ("uri", "revision", "trained"),
    [
        ("hf://org/tiny", SHA, f"hf://org/tiny@{SHA}"),
        ("hf://org/tiny@main", SHA, f"hf://org/tiny@{SHA}"),
        ("hf://org/tiny@release/v1.0", SHA, f"hf://org/tiny@{SHA}"),
        ("hf://org/tiny@main", None, None),
        (f"hf://org/tiny@{SHA}", SHA, None),
        ("s3://models/base/", None, None),
        ("s3://models/base/", SHA, None),
    ],
    ids=[
        "main-by-default",
        "branch",
        "tag",
        "older-validator",
        "already-a-commit",
        "s3",
        "s3-ignores",
    ],
)
def test_training_reads_the_base_model_at_the_commit_validation_resolved(
    uri: str, revision: str | None, trained: str | None
) -> None:
    """A branch that moves after validation does not change the model trained: the training
    pods mount a document pinned to the validated commit. Nothing to pin (an S3 model, a
    validator that reported no commit, a URI already at it): they read the validator's."""
    token = {"hfTokenSecretRef": {"name": "hf"}} if uri.startswith("hf://") else {}
    job = job_with(baseModel={"uri": uri, **token})
    train = builders.build_train_job(job, RUNTIME, suspend=False, base_model_revision=revision)
    validate = builders.build_validate_job(job, RUNTIME)
    assert config_map_of(validate) == "support-lora-config"
    assert yaml.safe_load(builders.build_config_map(job)["data"]["job.yaml"]) == job.rendered()
    pinned = builders.pinned_job(job, revision)
    if trained is None:
        assert pinned is None
        assert config_map_of(train) == "support-lora-config"
        return
    assert pinned is not None
    config_map = builders.build_train_config_map(pinned)
    assert config_map_of(train) == config_map["metadata"]["name"] == "support-lora-train-config"
    document = yaml.safe_load(config_map["data"]["job.yaml"])
    # Only the URI differs; the token reference and everything else are the user's.
    rendered = job.rendered()
    rendered["spec"]["baseModel"]["uri"] = trained
    assert document == rendered
    assert parse_job(document).spec.base_model.uri == trained
    assert job.spec.base_model.uri == uri  # the spec itself is never changed


def test_a_revision_that_is_no_ref_is_never_rendered() -> None:
    job = job_with(baseModel={"uri": "hf://org/tiny@main"})
    with pytest.raises(ValueError, match="pattern"):
        builders.pinned_job(job, "../../etc")


def test_service_is_headless_with_rendezvous_and_progress_ports() -> None:
    spec = builders.build_service(job_with())["spec"]
    assert spec["clusterIP"] == "None"
    assert spec["publishNotReadyAddresses"] is True
    assert spec["selector"] == {"finetune.dev/job": "support-lora", "finetune.dev/role": "train"}
    assert [p["port"] for p in spec["ports"]] == [29500, 8478]


def test_network_policy_admits_only_the_jobs_pods_and_the_operator() -> None:
    peer = builders.OperatorPeer("ops", (("app.kubernetes.io/name", "finetune-operator"),))
    runtime = builders.TrainerRuntime(
        image="i", s3_endpoint="", grace_period_seconds=1, operator_peer=peer
    )
    policy = builders.build_network_policy(job_with(), runtime)
    assert policy["metadata"]["name"] == "support-lora-train"
    assert policy["metadata"]["ownerReferences"] == [OWNER]
    training_pods = {
        "matchLabels": {"finetune.dev/job": "support-lora", "finetune.dev/role": "train"}
    }
    assert policy["spec"] == {
        "podSelector": training_pods,
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"podSelector": training_pods}]},
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "ops"}
                        },
                        "podSelector": {
                            "matchLabels": {"app.kubernetes.io/name": "finetune-operator"}
                        },
                    }
                ],
                "ports": [{"port": pod.PROGRESS_PORT, "protocol": "TCP"}],
            },
        ],
    }
    with pytest.raises(ValueError, match="operator's namespace"):
        builders.build_network_policy(job_with(), RUNTIME)


def test_validate_job_is_cpu_only_and_runs_validate() -> None:
    manifest = builders.build_validate_job(job_with(resources={"gpusPerNode": 8}), RUNTIME)
    container = pod_spec(manifest)["containers"][0]
    assert "command" not in container
    assert container["args"] == ["validate", "--job", "/etc/finetune/job.yaml"]
    assert "nvidia.com/gpu" not in str(container["resources"])
    assert manifest["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [3]
    assert "MASTER_ADDR" not in env_of(manifest)


RESTRICTED_CONTAINER = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


@pytest.mark.parametrize("role", ["validate", "train"])
def test_pods_are_restricted_with_scratch_and_shm(role: str) -> None:
    job = job_with()
    manifest = (
        builders.build_validate_job(job, RUNTIME)
        if role == "validate"
        else builders.build_train_job(job, RUNTIME, suspend=False)
    )
    spec = pod_spec(manifest)
    container = spec["containers"][0]
    assert container["securityContext"] == RESTRICTED_CONTAINER
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert spec["restartPolicy"] == "Never"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/etc/finetune": "config", "/scratch": "scratch", "/dev/shm": "dshm"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "support-lora-config"
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "2Gi"}
    assert volumes["scratch"]["emptyDir"] == {"sizeLimit": "100Gi"}
    env = env_of(manifest)
    # The trainer derives HOME, TMPDIR and every cache dir from FINETUNE_SCRATCH.
    assert env["FINETUNE_SCRATCH"] == "/scratch"
    assert "HOME" not in env
    assert "TMPDIR" not in env
    assert env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}


def test_scratch_env_names_the_scratch_mount() -> None:
    """Both sides take the path and the variable from finetune_api.pod, so they cannot drift."""
    manifest = builders.build_train_job(job_with(), RUNTIME, suspend=False)
    container = pod_spec(manifest)["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env_of(manifest)[pod.Env.SCRATCH] == mounts["scratch"] == pod.SCRATCH_DIR
    assert {"name": "scratch", "emptyDir": {"sizeLimit": "100Gi"}} in pod_spec(manifest)["volumes"]


def test_training_pods_get_the_grace_period_to_checkpoint() -> None:
    runtime = builders.TrainerRuntime(image="img", s3_endpoint="", grace_period_seconds=900)
    train = builders.build_train_job(job_with(), runtime, suspend=False)
    assert pod_spec(train)["terminationGracePeriodSeconds"] == 900
    assert env_of(train)["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"] == "900"  # torchrun waits as long
    # Validation writes no checkpoint: the Kubernetes default is enough.
    validate = builders.build_validate_job(job_with(), runtime)
    assert "terminationGracePeriodSeconds" not in pod_spec(validate)


def test_train_job_shape() -> None:
    job = job_with(
        resources={
            "numNodes": 4,
            "gpusPerNode": 8,
            "gpuResource": "amd.com/gpu",
            "nodeSelector": {"pool": "h100"},
            "priorityClassName": "training",
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
        hyperparameters={"batchSize": 64},
        runPolicy={"backoffLimit": 5, "activeDeadlineSeconds": 3600},
    )
    manifest = builders.build_train_job(job, RUNTIME, suspend=False)
    spec = manifest["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    # runPolicy.backoffLimit is the operator's to count (one Job per attempt): the Job
    # itself fails on the first failure of any rank, so the whole group restarts.
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["suspend"]) == (
        0,
        3600,
        False,
    )
    rules = spec["podFailurePolicy"]["rules"]
    assert rules == [
        {
            "action": "FailJob",
            "onExitCodes": {"containerName": "trainer", "operator": "In", "values": [3]},
        },
        {"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget"}]},
        {
            "action": "FailJob",
            "onExitCodes": {"containerName": "trainer", "operator": "NotIn", "values": [0]},
        },
    ]
    # The operator reads the matching rule's index back from the Job's Failed message.
    assert rules[builders.TRAIN_RULE_PERMANENT]["onExitCodes"]["values"] == [3]
    assert "onPodConditions" in rules[builders.TRAIN_RULE_DISRUPTION]
    assert rules[builders.TRAIN_RULE_EXIT]["onExitCodes"]["operator"] == "NotIn"
    assert manifest["metadata"]["annotations"] == {"finetune.dev/attempt": "1"}
    pod = pod_spec(manifest)
    assert pod["subdomain"] == "support-lora-train"
    assert pod["nodeSelector"] == {"pool": "h100"}
    assert pod["priorityClassName"] == "training"
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    container = pod["containers"][0]
    assert container["args"] == ["train", "--job", "/etc/finetune/job.yaml"]
    assert container["resources"] == {
        "requests": {"amd.com/gpu": "8", "cpu": "500m", "memory": "1Gi"},
        "limits": {"amd.com/gpu": "8"},
    }
    assert container["image"] == RUNTIME.image


def test_a_later_attempt_is_numbered_and_gets_the_remaining_deadline() -> None:
    """The next attempt is a new Job under the same name (same pod hostnames, Service and
    MASTER_ADDR), annotated with its number, with what is left of activeDeadlineSeconds."""
    job = job_with(runPolicy={"activeDeadlineSeconds": 3600})
    first = builders.build_train_job(job, RUNTIME, suspend=False)
    third = builders.build_train_job(
        job, RUNTIME, suspend=False, attempt=3, active_deadline_seconds=1200
    )
    assert third["metadata"]["name"] == first["metadata"]["name"] == "support-lora-train"
    assert third["metadata"]["annotations"] == {"finetune.dev/attempt": "3"}
    assert third["spec"]["activeDeadlineSeconds"] == 1200
    assert env_of(third) == env_of(first)
    assert pod_spec(third)["subdomain"] == pod_spec(first)["subdomain"]


@pytest.mark.parametrize(
    ("gpus", "nproc"),
    [(0, "1"), (1, "1"), (8, "8")],
)
def test_rendezvous_env(gpus: int, nproc: str) -> None:
    job = job_with(resources={"numNodes": 2, "gpusPerNode": gpus})
    env = env_of(builders.build_train_job(job, RUNTIME, suspend=False))
    assert env["MASTER_ADDR"] == "support-lora-train-0.support-lora-train"
    assert env["MASTER_PORT"] == "29500"
    assert env["NNODES"] == "2"
    assert env["NPROC_PER_NODE"] == nproc
    assert env["NODE_RANK"] == {
        "fieldRef": {
            "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        }
    }
    assert (env["FINETUNE_JOB_NAME"], env["FINETUNE_NAMESPACE"]) == ("support-lora", "team-a")


@pytest.mark.parametrize(
    ("job_cpu", "default_cpu", "field"),
    [
        ("3", "500m", "requests.cpu"),
        ("", "500m", "requests.cpu"),
        ("", "", "limits.cpu"),
    ],
    ids=["job-request", "operator-default-request", "no-request-reads-node"],
)
def test_cpus_env_reads_the_pods_cpu_allotment(job_cpu: str, default_cpu: str, field: str) -> None:
    """The trainer sizes its threads from the request (whole CPUs, rounded up); the limit,
    which without one is the node's allocatable CPUs, only when nothing was requested."""
    runtime = builders.TrainerRuntime(
        image="img", s3_endpoint="", grace_period_seconds=300, cpu_request=default_cpu
    )
    resources = {"cpu": job_cpu} if job_cpu else {}
    env = env_of(builders.build_train_job(job_with(resources=resources), runtime, suspend=False))
    assert env["FINETUNE_CPUS"] == {
        "resourceFieldRef": {"containerName": "trainer", "resource": field, "divisor": "1"}
    }


@pytest.mark.parametrize(
    ("storage", "default_endpoint", "expected"),
    [
        ({}, "", {}),
        ({}, "http://s3.local:8333", {"AWS_ENDPOINT_URL": "http://s3.local:8333"}),
        (
            {"endpoint": "https://minio.example", "region": "eu-1"},
            "http://s3.local:8333",
            {"AWS_ENDPOINT_URL": "https://minio.example", "AWS_REGION": "eu-1"},
        ),
        (
            {"secretRef": {"name": "s3-creds"}},
            "",
            {
                "AWS_ACCESS_KEY_ID": {
                    "secretKeyRef": {"name": "s3-creds", "key": "AWS_ACCESS_KEY_ID"}
                },
                "AWS_SECRET_ACCESS_KEY": {
                    "secretKeyRef": {"name": "s3-creds", "key": "AWS_SECRET_ACCESS_KEY"}
                },
            },
        ),
    ],
    ids=["aws", "operator-default", "job-endpoint-wins", "secret-ref"],
)
def test_s3_env(storage: dict[str, Any], default_endpoint: str, expected: dict[str, Any]) -> None:
    runtime = builders.TrainerRuntime(
        image="img", s3_endpoint=default_endpoint, grace_period_seconds=300
    )
    for manifest in (
        builders.build_validate_job(job_with(storage=storage), runtime),
        builders.build_train_job(job_with(storage=storage), runtime, suspend=False),
    ):
        env = env_of(manifest)
        assert {k: v for k, v in env.items() if k.startswith("AWS_")} == expected


@pytest.mark.parametrize(
    ("base_model", "hf_endpoint", "expected"),
    [
        ({"uri": "hf://org/public"}, "", {}),
        (
            {"uri": "hf://org/private@v1", "hfTokenSecretRef": {"name": "hf", "key": "token"}},
            "https://hub-mirror.example",
            {
                "HF_ENDPOINT": "https://hub-mirror.example",
                "HF_TOKEN": {"secretKeyRef": {"name": "hf", "key": "token"}},
            },
        ),
        ({"uri": "s3://models/base/"}, "https://hub-mirror.example", {}),
    ],
    ids=["public", "token-and-mirror", "s3-model-gets-no-hub-env"],
)
def test_hub_env(base_model: dict[str, Any], hf_endpoint: str, expected: dict[str, Any]) -> None:
    runtime = builders.TrainerRuntime(
        image="img", s3_endpoint="", grace_period_seconds=300, hf_endpoint=hf_endpoint
    )
    job = job_with(baseModel=base_model)
    for manifest in (
        builders.build_validate_job(job, runtime),
        builders.build_train_job(job, runtime, suspend=False),
    ):
        env = env_of(manifest)
        assert {k: v for k, v in env.items() if k.startswith("HF_")} == expected


@pytest.mark.parametrize(("queue", "suspend"), [("", False), ("gpu-queue", True)])
def test_kueue_label_and_initial_suspend(queue: str, suspend: bool) -> None:
    manifest = builders.build_train_job(job_with(queueName=queue), RUNTIME, suspend=suspend)
    labels = manifest["metadata"]["labels"]
    assert labels.get(names.LABEL_KUEUE_QUEUE) == (queue or None)
    assert manifest["spec"]["suspend"] is suspend
    assert names.LABEL_KUEUE_QUEUE not in manifest["spec"]["template"]["metadata"]["labels"]


def test_builders_need_the_owner_uid() -> None:
    with pytest.raises(ValueError, match="uid"):
        builders.build_service(parse_job(finetunejob("support-lora")))


NO_DEFAULTS = builders.TrainerRuntime(image="img", s3_endpoint="", grace_period_seconds=300)


@pytest.mark.parametrize(
    ("role", "resources", "runtime", "expected"),
    [
        (
            "train",
            {"gpusPerNode": 1},
            RUNTIME,
            {
                "requests": {"nvidia.com/gpu": "1", "cpu": "500m", "memory": "1Gi"},
                "limits": {"nvidia.com/gpu": "1"},
            },
        ),
        (
            "train",
            {"gpusPerNode": 0, "cpu": "8", "memory": "64Gi"},
            RUNTIME,
            {"requests": {"cpu": "8", "memory": "64Gi"}, "limits": {"memory": "64Gi"}},
        ),
        (
            "train",
            {"gpusPerNode": 2},
            NO_DEFAULTS,
            {"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": "2"}},
        ),
        (
            "validate",
            {"gpusPerNode": 8},
            RUNTIME,
            {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
        ),
        (
            "validate",
            {"gpusPerNode": 8, "cpu": "2", "memory": "256Mi"},
            RUNTIME,
            {"requests": {"cpu": "2", "memory": "256Mi"}, "limits": {"memory": "256Mi"}},
        ),
    ],
    ids=[
        "train-defaults",
        "train-spec",
        "train-defaults-off",
        "validate-defaults",
        "validate-follows-spec",
    ],
)
def test_pods_are_never_best_effort(
    role: str, resources: dict[str, Any], runtime: builders.TrainerRuntime, expected: Any
) -> None:
    """CPU and memory requests by default; spec.resources wins, on validation pods too (never
    GPUs there)."""
    job = job_with(resources=resources)
    manifest = (
        builders.build_validate_job(job, runtime)
        if role == "validate"
        else builders.build_train_job(job, runtime, suspend=False)
    )
    assert pod_spec(manifest)["containers"][0]["resources"] == expected


def test_size_limits_can_be_switched_off() -> None:
    volumes = {
        v["name"]: v
        for v in pod_spec(builders.build_validate_job(job_with(), NO_DEFAULTS))["volumes"]
    }
    assert volumes["scratch"]["emptyDir"] == {}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory"}


def test_validation_pods_are_placed_like_training_pods() -> None:
    job = job_with(
        resources={
            "nodeSelector": {"pool": "team-a"},
            "priorityClassName": "batch-low",
            "tolerations": [{"key": "dedicated", "value": "team-a", "effect": "NoSchedule"}],
        }
    )
    validate = pod_spec(builders.build_validate_job(job, RUNTIME))
    train = pod_spec(builders.build_train_job(job, RUNTIME, suspend=False))
    for field in ("nodeSelector", "priorityClassName", "tolerations"):
        assert validate[field] == train[field], field
    assert validate["tolerations"] == [
        {"key": "dedicated", "value": "team-a", "effect": "NoSchedule"}
    ]


POD_TEMPLATE: dict[str, Any] = {
    "serviceAccountName": "trainer-identity",
    "imagePullSecrets": [{"name": "registry-creds"}],
    "env": [
        {"name": "TEAM", "value": "a"},
        {"name": "MLFLOW_RUN_TAG", "valueFrom": {"secretKeyRef": {"name": "tags", "key": "tag"}}},
        {
            "name": "PROXY",
            "valueFrom": {"configMapKeyRef": {"name": "net", "key": "proxy", "optional": True}},
        },
    ],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["gpu"]}]}
                ]
            }
        }
    },
    "labels": {"cost-center": "ml-42"},
    "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
}


@pytest.mark.parametrize("role", ["validate", "train"])
def test_pod_template_reaches_both_kinds_of_pod(role: names.Role) -> None:
    job = job_with(podTemplate=POD_TEMPLATE)
    manifest = (
        builders.build_validate_job(job, RUNTIME)
        if role == "validate"
        else builders.build_train_job(job, RUNTIME, suspend=False)
    )
    spec = pod_spec(manifest)
    assert spec["serviceAccountName"] == "trainer-identity"
    assert spec["automountServiceAccountToken"] is True
    assert spec["imagePullSecrets"] == [{"name": "registry-creds"}]
    assert spec["affinity"] == POD_TEMPLATE["affinity"]
    env = manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[-3:] == POD_TEMPLATE["env"]  # after the operator's own, in the user's order
    metadata = manifest["spec"]["template"]["metadata"]
    assert metadata["labels"] == {
        "cost-center": "ml-42",
        **names.child_labels("support-lora", role),
    }
    assert metadata["annotations"] == POD_TEMPLATE["annotations"]
    # The Job itself keeps only the operator's labels and annotations.
    assert "cost-center" not in manifest["metadata"]["labels"]


def test_without_a_service_account_no_token_is_mounted() -> None:
    for manifest in (
        builders.build_validate_job(job_with(), RUNTIME),
        builders.build_train_job(job_with(), RUNTIME, suspend=False),
    ):
        spec = pod_spec(manifest)
        assert spec["automountServiceAccountToken"] is False
        for field in ("serviceAccountName", "imagePullSecrets", "affinity"):
            assert field not in spec, field
        assert "annotations" not in manifest["spec"]["template"]["metadata"]


def test_the_spec_grace_period_replaces_the_operators_for_training_pods() -> None:
    job = job_with(podTemplate={"terminationGracePeriodSeconds": 1200})
    train = builders.build_train_job(job, RUNTIME, suspend=False)
    assert pod_spec(train)["terminationGracePeriodSeconds"] == 1200
    assert env_of(train)["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"] == "1200"
    assert "terminationGracePeriodSeconds" not in pod_spec(
        builders.build_validate_job(job, RUNTIME)
    )


def test_tracker_credentials_reach_training_pods_only() -> None:
    job = job_with(
        tracking={
            "mlflow": {"trackingUri": "https://mlflow.example", "secretRef": {"name": "mlf"}},
            "wandb": {"project": "support", "secretRef": {"name": "wb"}},
        }
    )
    train = env_of(builders.build_train_job(job, RUNTIME, suspend=False))
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        assert train[key] == {"secretKeyRef": {"name": "mlf", "key": key, "optional": True}}
    assert train["WANDB_API_KEY"] == {"secretKeyRef": {"name": "wb", "key": "WANDB_API_KEY"}}
    # Settings travel in the job document; the validation pod needs no tracker credential.
    assert "MLFLOW_TRACKING_URI" not in train
    validate = env_of(builders.build_validate_job(job, RUNTIME))
    assert not [k for k in validate if k.startswith(("MLFLOW_", "WANDB_"))]


def test_trackers_without_a_secret_add_no_env() -> None:
    job = job_with(
        tracking={"mlflow": {"trackingUri": "https://mlflow.example"}, "wandb": {"project": "p"}}
    )
    train = env_of(builders.build_train_job(job, RUNTIME, suspend=False))
    assert not [k for k in train if k.startswith(("MLFLOW_", "WANDB_"))]
