"""The CLI's pure parts: manifests from flags, list rows, progress lines, describe sections,
the trainer pod chosen for logs, plot data and local paths for ``run --local``."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from rich.console import Console
from tests.support.manifests import finetunejob

from finetune_api.jobspec import parse_job
from finetune_cli.errors import CliError, NotFound, UsageError
from finetune_cli.follow import trainer_pod, watch
from finetune_cli.kube import Cluster
from finetune_cli.local import load_local_job, localize
from finetune_cli.main import main, parser
from finetune_cli.manifest import JobFlags, manifest_from_file, manifest_from_flags
from finetune_cli.plot import history_of, metrics_uri
from finetune_cli.views import (
    bar,
    describe_sections,
    duration,
    failure_reason,
    list_row,
    progress_line,
)
from finetune_trainer.lossplot import loss_plot, loss_series

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
FLAGS = JobFlags(
    name="support-lora",
    model="s3://models/base/",
    data="s3://data/train.jsonl",
    output="s3://models/out/",
)


def test_manifest_from_flags_holds_only_what_was_set() -> None:
    flags = JobFlags(**{**FLAGS.__dict__, "epochs": 2, "credentials_secret": "s3-keys"})
    assert manifest_from_flags(flags, "team-a") == {
        "apiVersion": "finetune.dev/v1alpha1",
        "kind": "FineTuneJob",
        "metadata": {"name": "support-lora", "namespace": "team-a"},
        "spec": {
            "baseModel": {"uri": "s3://models/base/"},
            "dataset": {"train": "s3://data/train.jsonl"},
            "output": {"uri": "s3://models/out/"},
            "hyperparameters": {"epochs": 2},
            "storage": {"secretRef": {"name": "s3-keys"}},
        },
    }


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"learning_rate": 3.0}, "spec.hyperparameters.learningRate (--learning-rate): "),
        ({"method": "qlora"}, "spec.method.type (--method): Input should be 'lora' or 'full'"),
        ({"data": "/tmp/train.jsonl"}, "spec.dataset.train (--data): String should match"),
        ({"batch_size": 6, "nodes": 4}, "batchSize 6 must be divisible by the world size 4"),
    ],
)
def test_a_bad_flag_is_one_line_naming_field_and_flag(change: dict[str, Any], says: str) -> None:
    with pytest.raises(UsageError) as refused:
        manifest_from_flags(JobFlags(**{**FLAGS.__dict__, **change}), None)
    assert says in str(refused.value)
    assert "\n" not in str(refused.value)


def test_manifest_file_takes_the_namespace_flag_unless_it_contradicts(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(finetunejob(namespace=None)))
    assert manifest_from_file(str(path), "team-b")["metadata"]["namespace"] == "team-b"
    path.write_text(yaml.safe_dump(finetunejob(namespace="team-a")))
    with pytest.raises(UsageError, match="does not match the namespace 'team-b'"):
        manifest_from_file(str(path), "team-b")


def status_job(status: dict[str, Any], **meta: Any) -> dict[str, Any]:
    job = finetunejob("support-lora")
    job["metadata"] |= {"creationTimestamp": "2026-12-03T11:15:00Z", "uid": "u-1", **meta}
    return job | {"status": status}


RUNNING = {
    "phase": "Running",
    "progress": {"step": 34, "totalSteps": 92, "percent": 37, "etaSeconds": 410,
                 "tokensPerSecond": 1850.0, "stage": "training"},
    "metrics": {"trainLoss": 1.42, "baseEvalLoss": 3.9},
}  # fmt: skip
SUCCEEDED = {
    "phase": "Succeeded",
    "progress": {"step": 90, "totalSteps": 92, "percent": 97},
    "metrics": {"trainLoss": 0.61, "evalLoss": 0.7712, "baseEvalLoss": 3.9,
                "answerAccuracy": 0.88, "baseAnswerAccuracy": 0.31},
    "output": {"uri": "s3://models/out/", "manifest": "s3://models/out/manifest.json", "files": 9},
}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "row"),
    [
        ({}, ("support-lora", "Pending", "-", "-", "-", "-", "45m")),
        (RUNNING, ("support-lora", "Running", "████░░░░░░  37%", "1.42", "-", "-", "45m")),
        (
            SUCCEEDED,
            ("support-lora", "Succeeded", "██████████ 100%", "0.61", "0.7712", "31% → 88%", "45m"),
        ),
    ],
    ids=["no-status", "running", "succeeded"],
)
def test_list_row(status: dict[str, Any], row: tuple[str, ...]) -> None:
    assert list_row(status_job(status), NOW) == row


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (5, "5s"), (60, "1m"), (410, "6m50s"), (7200, "2h"), (12000, "3h20m"),
     (200000, "2d")],
)  # fmt: skip
def test_duration(seconds: int | None, text: str) -> None:
    assert duration(seconds) == text


def test_bar_clamps() -> None:
    assert bar(None) == "-"
    assert bar(0) == "░░░░░░░░░░   0%"
    assert bar(250) == "██████████ 100%"


def test_progress_line_while_running_and_when_done() -> None:
    running = progress_line(status_job(RUNNING))
    assert (running.completed, running.total) == (34, 92)
    assert running.fields == "Running  step 34/92  loss 1.42  1,850 tok/s  ETA 6m50s  training"
    done = progress_line(status_job(SUCCEEDED))
    assert (done.completed, done.total) == (92, 92)
    assert "ETA" not in done.fields


class PolledCluster:
    """A cluster whose job answers each poll with the next of ``states``."""

    def __init__(self, *states: dict[str, Any]) -> None:
        self.states = iter(states)

    def get_job(self, name: str) -> dict[str, Any]:
        return status_job(next(self.states))


def test_watch_piped_prints_a_line_per_change_then_the_end() -> None:
    out = io.StringIO()
    cluster = PolledCluster({}, RUNNING, RUNNING, SUCCEEDED)
    watch(cast(Cluster, cluster), Console(file=out, width=200), "support-lora", interval=0)
    lines = [re.sub(r"^\d\d:\d\d:\d\d  ", "", line) for line in out.getvalue().splitlines()]
    assert lines == [
        "support-lora  Pending  step 0/?  loss -",
        "support-lora  Running  step 34/92  loss 1.42  1,850 tok/s  ETA 6m50s  training",
        "support-lora  Succeeded  step 92/92  loss 0.61",
        "support-lora Succeeded",
    ]


def test_watch_of_a_failed_job_raises_its_reason() -> None:
    failed = {"phase": "Failed", "conditions": [
        {"type": "Failed", "status": "True", "reason": "Stalled", "message": "no step for 30m",
         "lastTransitionTime": "2026-12-03T11:59:00Z"},
    ]}  # fmt: skip
    cluster = PolledCluster(RUNNING, failed)
    with pytest.raises(CliError, match="support-lora Failed: Stalled: no step for 30m"):
        watch(cast(Cluster, cluster), Console(file=io.StringIO()), "support-lora", interval=0)


def test_failure_reason_from_the_failed_condition() -> None:
    failed = {
        "phase": "Failed",
        "conditions": [
            {"type": "Failed", "status": "True", "reason": "InvalidDataset",
             "message": "line 3: bad JSON", "lastTransitionTime": "2026-12-03T11:59:00Z"},
        ],
    }  # fmt: skip
    assert failure_reason(status_job(failed)) == "InvalidDataset: line 3: bad JSON"
    assert failure_reason(status_job({"phase": "Cancelled"})) == "the job is Cancelled"


def test_describe_shows_base_against_tuned_and_events() -> None:
    events = [
        {"type": "Normal", "reason": "Succeeded", "message": "output published",
         "lastTimestamp": "2026-12-03T11:58:00Z"},
        {"type": "Normal", "reason": "Running", "message": "training started",
         "lastTimestamp": "2026-12-03T11:20:00Z"},
    ]  # fmt: skip
    sections = dict(describe_sections(status_job(SUCCEEDED), events, NOW))
    assert dict(sections["Metrics (base → tuned)"])["Answer accuracy"] == "31% → 88%"
    assert dict(sections["Metrics (base → tuned)"])["Eval loss"] == "3.9 → 0.7712"
    assert dict(sections["Output"])["Files"] == "9"
    assert sections["Events"] == [
        ("40m", "Normal Running: training started"),
        ("2m", "Normal Succeeded: output published"),
    ]
    assert "Dataset" not in sections


def test_describe_says_how_long_the_run_trains() -> None:
    """``maxSteps`` overrides the epochs (ending the run before them, or going on past them, as
    the demo's step-based recipe does): describe shows it instead of the epochs."""
    job = status_job(SUCCEEDED)
    job["spec"]["hyperparameters"] = {"epochs": 3}
    assert dict(dict(describe_sections(job, [], NOW))["Spec"])["Length"] == "3 epochs"
    job["spec"]["hyperparameters"] = {"epochs": 3, "maxSteps": 1770}
    spec_rows = dict(dict(describe_sections(job, [], NOW))["Spec"])
    assert spec_rows["Length"] == "1,770 steps (maxSteps; overrides epochs)"


def pod(name: str, role: str, index: str | None, created: str) -> dict[str, Any]:
    annotations = {"batch.kubernetes.io/job-completion-index": index} if index else {}
    return {
        "metadata": {
            "name": name,
            "labels": {"finetune.dev/job": "j", "finetune.dev/role": role},
            "annotations": annotations,
            "creationTimestamp": created,
        }
    }


def test_logs_read_the_newest_attempt_of_the_rank_else_validation() -> None:
    validate = pod("j-validate-x", "validate", None, "2026-12-03T11:00:00Z")
    first = pod("j-train-0-a", "train", "0", "2026-12-03T11:01:00Z")
    retry = pod("j-train-0-b", "train", "0", "2026-12-03T11:09:00Z")
    rank1 = pod("j-train-1-c", "train", "1", "2026-12-03T11:09:00Z")
    assert trainer_pod([validate, first, retry, rank1], 0) == "j-train-0-b"
    assert trainer_pod([validate, first, retry, rank1], 1) == "j-train-1-c"
    assert trainer_pod([validate], 0) == "j-validate-x"
    assert trainer_pod([validate], 1) is None


HISTORY = [
    {"step": 0, "base_eval_loss": 3.9},
    {"step": 1, "loss": 3.1},
    {"step": 2, "loss": 2.4},
    {"step": 2, "eval_loss": 2.2},
    {"train_runtime": 9.0},
]


def test_loss_series_per_curve() -> None:
    assert loss_series(HISTORY) == {
        "train": ((1, 2), (3.1, 2.4)),
        "eval": ((2,), (2.2,)),
        "base eval": ((0,), (3.9,)),
    }


def test_plot_data_comes_from_the_published_output(tmp_path: Path) -> None:
    assert metrics_uri(status_job(SUCCEEDED)) == "s3://models/out/metrics.json"
    with pytest.raises(NotFound, match="published no output yet"):
        metrics_uri(status_job(RUNNING))
    assert history_of({"history": HISTORY}, "u") == HISTORY
    with pytest.raises(CliError, match="no loss history"):
        history_of({"history": [{"train_runtime": 1.0}]}, "u")
    loss_plot(HISTORY, tmp_path / "loss.png", title="support-lora")
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_local_paths_become_file_uris_relative_to_the_manifest(tmp_path: Path) -> None:
    document = finetunejob(
        baseModel={"uri": "models/tiny"},
        dataset={"train": "data/train.jsonl", "eval": "s3://data/eval.jsonl"},
        output={"uri": "file:///srv/out/"},
    )
    spec = localize(document, tmp_path)["spec"]
    assert spec["baseModel"]["uri"] == f"file://{tmp_path}/models/tiny/"
    assert spec["dataset"] == {
        "train": f"file://{tmp_path}/data/train.jsonl",
        "eval": "s3://data/eval.jsonl",
    }
    assert spec["output"]["uri"] == "file:///srv/out/"
    parse_job(localize(document, tmp_path), local=True)


def test_local_manifest_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(finetunejob(hyperparameters={"epochs": 0})))
    with pytest.raises(UsageError, match=r"spec.hyperparameters.epochs: Input should be greater"):
        load_local_job(path)


@pytest.mark.parametrize(
    ("argv", "context", "namespace"),
    [
        (["-n", "team-a", "watch", "job"], None, "team-a"),
        (["watch", "job", "-n", "team-a", "--context", "prod"], "prod", "team-a"),
        (["--context", "prod", "logs", "job", "--namespace", "team-b"], "prod", "team-b"),
        (["-n", "team-a", "list", "-A"], None, "team-a"),
        (["list"], None, None),
    ],
)
def test_global_flags_go_before_or_after_the_command_as_in_kubectl(
    argv: list[str], context: str | None, namespace: str | None
) -> None:
    args = parser().parse_args(argv)
    assert (args.context, args.namespace) == (context, namespace)


def test_errors_are_one_line_with_a_non_zero_exit(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["create", "--name", "x", "--model", "s3://models/b/", "--dry-run"])
    assert code == 2
    assert capsys.readouterr().err == "error: create needs -f FILE, or --data, --output\n"


def test_no_cluster_configured(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert main(["list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no cluster configured") and err.count("\n") == 1
