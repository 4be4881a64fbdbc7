"""The apiserver refuses bad FineTuneJobs before anything runs, naming the field: schema
ranges, enums, patterns, CEL rules and the immutability of spec. Server-side dry-run only."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from devcluster.kubeapi import KubeError
from devcluster.stack import Cluster
from tests.e2e.operator_env import crd, ftj_path, manifest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
__all__ = ["crd"]  # fixture used by name

DRY_RUN = {"dryRun": "All", "fieldValidation": "Strict"}
MERGE = "application/merge-patch+json"


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` deep-merged in; a None value deletes the key."""
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def bad(**spec: Any) -> dict[str, Any]:
    body = manifest("bad")
    body["spec"] = merged(body["spec"], spec)
    return body


S3 = "s3://b/t.jsonl"
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("no-base-model", bad(baseModel=None), "spec.baseModel"),
    ("base-model-not-s3", bad(baseModel={"uri": "https://hf.co/x"}), "spec.baseModel.uri"),
    ("train-not-s3", bad(dataset={"train": "/data/train.jsonl"}), "spec.dataset.train"),
    ("eval-and-split", bad(dataset={"eval": S3, "evalSplit": 0.1}), "spec.dataset"),
    ("split-too-big", bad(dataset={"evalSplit": 1.5}), "spec.dataset.evalSplit"),
    ("format-unknown", bad(dataset={"format": "csv"}), "spec.dataset.format"),
    ("method-unknown", bad(method={"type": "qlora"}), "spec.method.type"),
    ("lora-with-full", bad(method={"type": "full", "lora": {"r": 8}}), "spec.method.lora"),
    ("lora-rank-zero", bad(method={"lora": {"r": 0}}), "spec.method.lora.r"),
    ("lora-dropout-one", bad(method={"lora": {"dropout": 1}}), "spec.method.lora.dropout"),
    (
        "seq-too-short",
        bad(hyperparameters={"maxSeqLength": 8}),
        "spec.hyperparameters.maxSeqLength",
    ),
    (
        "seq-too-long",
        bad(hyperparameters={"maxSeqLength": 131073}),
        "spec.hyperparameters.maxSeqLength",
    ),
    ("lr-zero", bad(hyperparameters={"learningRate": 0}), "spec.hyperparameters.learningRate"),
    ("epochs-negative", bad(hyperparameters={"epochs": -1}), "spec.hyperparameters.epochs"),
    ("batch-not-int", bad(hyperparameters={"batchSize": "16"}), "spec.hyperparameters.batchSize"),
    ("unknown-field", bad(hyperparameters={"lr": 0.1}), "spec.hyperparameters.lr"),
    ("zero-stage-4", bad(deepspeed={"zeroStage": 4}), "spec.deepspeed.zeroStage"),
    ("offload-disk", bad(deepspeed={"offload": "disk"}), "spec.deepspeed.offload"),
    (
        "offload-without-zero",
        bad(deepspeed={"zeroStage": 0, "offload": "optimizer"}),
        "spec.deepspeed.offload",
    ),
    (
        "offload-all-below-zero3",
        bad(deepspeed={"zeroStage": 2, "offload": "all"}),
        "spec.deepspeed.offload",
    ),
    (
        "batch-not-divisible-by-world",
        bad(hyperparameters={"batchSize": 6}, resources={"numNodes": 2, "gpusPerNode": 2}),
        "spec.hyperparameters.batchSize",
    ),
    (
        "batch-not-divisible-by-micro",
        bad(hyperparameters={"batchSize": 16, "microBatchSize": 3}),
        "spec.hyperparameters.batchSize",
    ),
    ("no-nodes", bad(resources={"numNodes": 0}), "spec.resources.numNodes"),
    ("negative-gpus", bad(resources={"gpusPerNode": -1}), "spec.resources.gpusPerNode"),
    (
        "toleration-operator",
        bad(resources={"tolerations": [{"operator": "Maybe"}]}),
        "spec.resources.tolerations[0].operator",
    ),
    (
        "toleration-exists-with-value",
        bad(resources={"tolerations": [{"operator": "Exists", "value": "x"}]}),
        "spec.resources.tolerations[0].value",
    ),
    (
        "toleration-seconds-without-noexecute",
        bad(resources={"tolerations": [{"key": "k", "tolerationSeconds": 5}]}),
        "spec.resources.tolerations[0].tolerationSeconds",
    ),
    (
        "node-selector-value",
        bad(resources={"nodeSelector": {"pool": "not a label"}}),
        "spec.resources.nodeSelector.pool",
    ),
    (
        "priority-class-name",
        bad(resources={"priorityClassName": "Not_DNS"}),
        "spec.resources.priorityClassName",
    ),
    ("no-output-uri", bad(output={"uri": None, "merge": False}), "spec.output.uri"),
    ("merge-with-full", bad(method={"type": "full"}, output={"merge": True}), "spec.output.merge"),
    ("keep-zero", bad(checkpointing={"keep": 0}), "spec.checkpointing.keep"),
    ("backoff-negative", bad(runPolicy={"backoffLimit": -1}), "spec.runPolicy.backoffLimit"),
    (
        "deadline-zero",
        bad(runPolicy={"activeDeadlineSeconds": 0}),
        "spec.runPolicy.activeDeadlineSeconds",
    ),
    ("queue-name", bad(queueName="Bad_Queue"), "spec.queueName"),
    ("endpoint-scheme", bad(storage={"endpoint": "ftp://s3.local"}), "spec.storage.endpoint"),
    (
        "env-the-trainer-sets",
        bad(podTemplate={"env": [{"name": "NODE_RANK", "value": "0"}]}),
        "spec.podTemplate.env NODE_RANK is set by the operator or the trainer",
    ),
    (
        "env-aws",
        bad(podTemplate={"env": [{"name": "AWS_ACCESS_KEY_ID", "value": "x"}]}),
        "spec.podTemplate.env AWS_ACCESS_KEY_ID",
    ),
    (
        "env-twice",
        bad(podTemplate={"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}),
        "spec.podTemplate.env must name each variable once",
    ),
    (
        "env-both-refs",
        bad(
            podTemplate={
                "env": [
                    {
                        "name": "A",
                        "valueFrom": {
                            "secretKeyRef": {"name": "s", "key": "k"},
                            "configMapKeyRef": {"name": "c", "key": "k"},
                        },
                    }
                ]
            }
        ),
        "exactly one of secretKeyRef and configMapKeyRef",
    ),
    (
        "env-secret-of-another-namespace",
        bad(
            podTemplate={
                "env": [
                    {
                        "name": "A",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "namespace": "x"}},
                    }
                ]
            }
        ),
        "spec.podTemplate.env[0].valueFrom.secretKeyRef.namespace",
    ),
    (
        "label-of-the-operator",
        bad(podTemplate={"labels": {"finetune.dev/role": "train"}}),
        "spec.podTemplate.labels must not use keys under finetune.dev/",
    ),
    (
        "annotation-of-the-job-controller",
        bad(podTemplate={"annotations": {"batch.kubernetes.io/job-completion-index": "0"}}),
        "spec.podTemplate.annotations must not use keys",
    ),
    (
        "privileged",
        bad(podTemplate={"securityContext": {"privileged": True}}),
        "spec.podTemplate.securityContext",
    ),
    ("host-network", bad(podTemplate={"hostNetwork": True}), "spec.podTemplate.hostNetwork"),
    (
        "grace-period",
        bad(podTemplate={"terminationGracePeriodSeconds": 0}),
        "spec.podTemplate.terminationGracePeriodSeconds",
    ),
    (
        "env-a-tracker-setting",
        bad(podTemplate={"env": [{"name": "WANDB_API_KEY", "value": "k"}]}),
        "WANDB_* settings from spec.tracking",
    ),
    (
        "mlflow-uri-scheme",
        bad(tracking={"mlflow": {"trackingUri": "ftp://mlflow"}}),
        "spec.tracking.mlflow.trackingUri",
    ),
    (
        "wandb-project-a-path",
        bad(tracking={"wandb": {"project": "a/b"}}),
        "spec.tracking.wandb.project",
    ),
    ("name-too-long", manifest("a" * 53), "metadata.name"),
    ("name-not-dns-1035", manifest("1-job"), "metadata.name"),
]


@pytest.mark.parametrize(
    ("body", "field"), [(b, f) for _, b, f in INVALID], ids=[case for case, _, _ in INVALID]
)
def test_invalid_manifest_is_rejected_naming_the_field(
    cluster: Cluster, namespace: str, crd: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(KubeError) as caught:
        cluster.api.request("POST", ftj_path(namespace), body, params=DRY_RUN)
    # 422 Invalid from validation; 400 BadRequest from strict decoding of unknown fields.
    assert caught.value.status in (400, 422), str(caught.value)
    assert field in str(caught.value)


def test_valid_manifest_is_accepted_and_defaulted(
    cluster: Cluster, namespace: str, crd: str
) -> None:
    created = cluster.api.request("POST", ftj_path(namespace), manifest("ok"), params=DRY_RUN)
    spec = created["spec"]
    assert spec["hyperparameters"]["maxSeqLength"] == 1024
    assert spec["method"] == {"type": "lora"}
    assert spec["runPolicy"]["backoffLimit"] == 2


CHANGES: list[tuple[str, dict[str, Any], str]] = [
    ("learning-rate", {"hyperparameters": {"learningRate": 0.1}}, "spec.hyperparameters"),
    ("output", {"output": {"uri": "s3://elsewhere/out/"}}, "spec.output"),
    ("nodes", {"resources": {"numNodes": 2}}, "spec.resources"),
    ("backoff", {"runPolicy": {"backoffLimit": 5}}, "spec.runPolicy"),
    ("image", {"image": "other:1"}, "spec.image"),
]


@pytest.mark.parametrize(
    ("change", "field"), [(c, f) for _, c, f in CHANGES], ids=[case for case, _, _ in CHANGES]
)
def test_spec_is_immutable(
    cluster: Cluster, namespace: str, crd: str, change: dict[str, Any], field: str
) -> None:
    cluster.api.create(ftj_path(namespace), manifest("fixed"))
    with pytest.raises(KubeError) as caught:
        cluster.api.request(
            "PATCH",
            ftj_path(namespace, "fixed"),
            {"spec": change},
            params=DRY_RUN,
            content_type=MERGE,
        )
    assert caught.value.status == 422, str(caught.value)
    assert f"{field} is immutable" in str(caught.value)


def test_suspend_may_change(cluster: Cluster, namespace: str, crd: str) -> None:
    cluster.api.create(ftj_path(namespace), manifest("pausable"))
    patched = cluster.api.request(
        "PATCH",
        ftj_path(namespace, "pausable"),
        {"spec": {"runPolicy": {"suspend": True}}},
        params=DRY_RUN,
        content_type=MERGE,
    )
    assert patched["spec"]["runPolicy"]["suspend"] is True
    assert patched["spec"]["runPolicy"] == {
        "suspend": True,
        "backoffLimit": 2,
        "activeDeadlineSeconds": 86400,
    }


def test_kubectl_explain_teaches_the_api(cluster: Cluster, crd: str) -> None:
    text = cluster.kubectl("explain", "ftj.spec.hyperparameters.maxSeqLength")
    assert "Longest sequence in tokens" in text
    assert "FineTuneJob fine-tunes" in cluster.kubectl("explain", "finetunejob")
