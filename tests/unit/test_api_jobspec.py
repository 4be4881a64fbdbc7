"""The job model's cross-field rules (the CRD's CEL rules say the same) and its rendering."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tests.support.manifests import finetunejob

from finetune_api.jobspec import parse_job

REFUSED: list[tuple[str, dict[str, Any], str]] = [
    (
        "offload-without-zero",
        {"deepspeed": {"zeroStage": 0, "offload": "optimizer"}},
        "zeroStage 1, 2 or 3",
    ),
    (
        "offload-all-below-zero3",
        {"deepspeed": {"zeroStage": 2, "offload": "all"}},
        "needs zeroStage 3",
    ),
    (
        "batch-not-divisible-by-world",
        {"hyperparameters": {"batchSize": 6}, "resources": {"numNodes": 2, "gpusPerNode": 2}},
        "batchSize 6 must be divisible by the world size 4",
    ),
    (
        "batch-not-divisible-by-micro-x-world",
        {"hyperparameters": {"batchSize": 8, "microBatchSize": 3}, "resources": {"numNodes": 2}},
        "microBatchSize 3 x the world size 2",
    ),
    (
        "merge-without-lora",
        {"method": {"type": "full"}, "output": {"uri": "s3://models/out/", "merge": True}},
        "merge",
    ),
    ("lora-settings-with-full", {"method": {"type": "full", "lora": {"r": 4}}}, "method.lora"),
    (
        "eval-and-split",
        {"dataset": {"train": "s3://data/t.jsonl", "eval": "s3://data/e.jsonl", "evalSplit": 0.1}},
        "mutually exclusive",
    ),
    ("bucket-too-short", {"output": {"uri": "s3://b/out/"}}, "output.uri"),
    (
        "toleration-exists-with-value",
        {"resources": {"tolerations": [{"key": "gpu", "operator": "Exists", "value": "a100"}]}},
        "operator Exists must not set a value",
    ),
    (
        "toleration-seconds-without-noexecute",
        {"resources": {"tolerations": [{"key": "gpu", "tolerationSeconds": 60}]}},
        "needs effect NoExecute",
    ),
    ("node-selector-not-a-label", {"resources": {"nodeSelector": {"pool": "a b"}}}, "pool"),
    ("priority-class-not-dns", {"resources": {"priorityClassName": "High"}}, "priorityClassName"),
    (
        "hub-token-with-s3-model",
        {"baseModel": {"uri": "s3://models/base/", "hfTokenSecretRef": {"name": "hf"}}},
        "hfTokenSecretRef is only allowed with an hf:// uri",
    ),
    ("hub-repo-without-org", {"baseModel": {"uri": "hf://gpt2"}}, "baseModel.uri"),
    ("hub-revision-escapes", {"baseModel": {"uri": "hf://org/name@../../etc"}}, "baseModel.uri"),
    ("hub-repo-dot-dot", {"baseModel": {"uri": "hf://org/..@main"}}, "baseModel.uri"),
    ("hub-empty-revision", {"baseModel": {"uri": "hf://org/name@"}}, "baseModel.uri"),
    (
        "hub-token-key-not-a-key",
        {"baseModel": {"uri": "hf://o/n", "hfTokenSecretRef": {"name": "hf", "key": "a/b"}}},
        "key",
    ),
    (
        "env-the-operator-sets",
        {"podTemplate": {"env": [{"name": "MASTER_ADDR", "value": "x"}]}},
        "spec.podTemplate.env MASTER_ADDR is set by the operator or the trainer",
    ),
    (
        "env-aws-credentials",
        {"podTemplate": {"env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "x"}]}},
        "spec.podTemplate.env AWS_SECRET_ACCESS_KEY",
    ),
    (
        "env-hf-token",
        {"podTemplate": {"env": [{"name": "HF_TOKEN", "value": "x"}]}},
        "spec.podTemplate.env HF_TOKEN",
    ),
    (
        "env-scratch-dir",
        {"podTemplate": {"env": [{"name": "HOME", "value": "/"}]}},
        "spec.podTemplate.env HOME",
    ),
    (
        "env-twice",
        {"podTemplate": {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}},
        "spec.podTemplate.env names A more than once",
    ),
    (
        "env-value-and-source",
        {
            "podTemplate": {
                "env": [
                    {
                        "name": "A",
                        "value": "1",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                    }
                ]
            }
        },
        "mutually exclusive",
    ),
    (
        "env-source-both-refs",
        {
            "podTemplate": {
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
        },
        "exactly one of secretKeyRef and configMapKeyRef",
    ),
    (
        "env-secret-of-another-namespace",
        {
            "podTemplate": {
                "env": [
                    {
                        "name": "A",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "namespace": "x"}},
                    }
                ]
            }
        },
        "podTemplate.env.0.valueFrom.secretKeyRef.namespace",
    ),
    (
        "label-of-the-operator",
        {"podTemplate": {"labels": {"finetune.dev/job": "other"}}},
        "spec.podTemplate.labels finetune.dev/job",
    ),
    (
        "label-managed-by",
        {"podTemplate": {"labels": {"app.kubernetes.io/managed-by": "me"}}},
        "spec.podTemplate.labels app.kubernetes.io/managed-by",
    ),
    (
        "annotation-of-the-job-controller",
        {"podTemplate": {"annotations": {"batch.kubernetes.io/job-completion-index": "0"}}},
        "spec.podTemplate.annotations batch.kubernetes.io/job-completion-index",
    ),
    ("label-key-not-qualified", {"podTemplate": {"labels": {"a b": "x"}}}, "podTemplate.labels"),
    (
        "privileged-cannot-be-expressed",
        {"podTemplate": {"securityContext": {"privileged": True}}},
        "podTemplate.securityContext",
    ),
    (
        "host-path-cannot-be-expressed",
        {"podTemplate": {"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}},
        "podTemplate.volumes",
    ),
    (
        "affinity-unknown-part",
        {"podTemplate": {"affinity": {"hostNetwork": True}}},
        "podTemplate.affinity.hostNetwork",
    ),
    (
        "env-a-tracker-setting",
        {"podTemplate": {"env": [{"name": "MLFLOW_TRACKING_URI", "value": "http://x"}]}},
        r"MLFLOW_\* and WANDB_\* settings from spec\.tracking",
    ),
    (
        "mlflow-uri-scheme",
        {"tracking": {"mlflow": {"trackingUri": "ftp://mlflow"}}},
        "tracking.mlflow.trackingUri",
    ),
    ("wandb-project-a-path", {"tracking": {"wandb": {"project": "a/b"}}}, "tracking.wandb.project"),
    ("wandb-without-project", {"tracking": {"wandb": {}}}, "tracking.wandb.project"),
    (
        "grace-period-too-long",
        {"podTemplate": {"terminationGracePeriodSeconds": 7200}},
        "terminationGracePeriodSeconds",
    ),
]


@pytest.mark.parametrize(("spec", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_cross_field_rules(spec: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        parse_job(finetunejob(**spec))


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    (
        "toleration-exists-empty-value",
        {"resources": {"tolerations": [{"operator": "Exists", "value": ""}]}},
    ),
    (
        "toleration-seconds-noexecute",
        {"resources": {"tolerations": [{"effect": "NoExecute", "tolerationSeconds": 60}]}},
    ),
    ("offload-optimizer-zero1", {"deepspeed": {"zeroStage": 1, "offload": "optimizer"}}),
    ("offload-all-zero3", {"deepspeed": {"zeroStage": 3, "offload": "all"}}),
    (
        "cpu-nodes-count-one-each",
        {"hyperparameters": {"batchSize": 6}, "resources": {"numNodes": 3, "gpusPerNode": 0}},
    ),
    ("hub-model", {"baseModel": {"uri": "hf://HuggingFaceTB/SmolLM2-135M-Instruct"}}),
    ("hub-model-at-tag", {"baseModel": {"uri": "hf://Qwen/Qwen2.5-0.5B@v1.0"}}),
    ("hub-model-at-branch-path", {"baseModel": {"uri": "hf://org/name@refs/pr/1"}}),
    (
        "hub-model-at-commit-with-token",
        {
            "baseModel": {
                "uri": "hf://org/private-model@" + "0123456789abcdef" * 2 + "01234567",
                "hfTokenSecretRef": {"name": "hf-token", "key": "token"},
            }
        },
    ),
    ("dataset-prefix", {"dataset": {"train": "s3://data/train/", "eval": "s3://data/eval/"}}),
    (
        "micro-x-world",
        {
            "hyperparameters": {"batchSize": 16, "microBatchSize": 2},
            "resources": {"numNodes": 2, "gpusPerNode": 4},
        },
    ),
]


@pytest.mark.parametrize("spec", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_valid_combinations_pass(spec: dict[str, Any]) -> None:
    parse_job(finetunejob(**spec))


def test_full_fine_tuning_renders_no_lora() -> None:
    assert parse_job(finetunejob(method={"type": "full"})).rendered()["spec"]["method"] == {
        "type": "full"
    }


def test_rendered_job_parses_back_to_the_same_job() -> None:
    job = parse_job(finetunejob(uid="u-1"))
    again = parse_job(job.rendered())
    assert again.metadata.uid == "u-1"
    assert again.spec == job.spec


def test_hub_token_key_defaults_to_hf_token() -> None:
    job = parse_job(finetunejob(baseModel={"uri": "hf://o/n", "hfTokenSecretRef": {"name": "hf"}}))
    assert job.rendered()["spec"]["baseModel"] == {
        "uri": "hf://o/n",
        "hfTokenSecretRef": {"name": "hf", "key": "HF_TOKEN"},
    }


LOCAL: dict[str, Any] = {
    "baseModel": {"uri": "file:///home/me/models/base/"},
    "dataset": {"train": "file:///home/me/data/train.jsonl"},
    "output": {"uri": "file:///home/me/out/"},
}


def test_local_uris_are_refused_on_a_cluster() -> None:
    with pytest.raises(ValidationError) as refused:
        parse_job(finetunejob(**LOCAL))
    assert {".".join(map(str, e["loc"])) for e in refused.value.errors()} == {
        "spec.baseModel.uri",
        "spec.dataset.train",
        "spec.output.uri",
    }


def test_local_run_accepts_file_uris_and_still_checks_s3_ones() -> None:
    job = parse_job(finetunejob(**LOCAL), local=True)
    assert job.spec.output.uri == "file:///home/me/out/"
    with pytest.raises(ValidationError, match=r"spec.dataset.train"):
        parse_job(finetunejob(dataset={"train": "s3://X/train.jsonl"}), local=True)
    with pytest.raises(ValidationError, match=r"spec.output.uri"):
        parse_job(finetunejob(output={"uri": "file://host/relative"}), local=True)
