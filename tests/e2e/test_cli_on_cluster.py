"""``kubectl finetune`` end to end: every command against the local cluster, with the operator
as a subprocess and the stand-in trainer image (as in test_operator_lifecycle.py), checking
what the CLI prints and its exit code. The CLI runs as a subprocess too, as a user runs it,
with the cluster's kubeconfig in ``KUBECONFIG``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from devcluster.s3 import S3Endpoint
from devcluster.stack import Cluster
from tests.e2e.operator_env import (
    BUCKET,
    ROOT,
    Operator,
    crd,
    get_ftj,
    operator,
    start_job,
    start_operator,
    wait_for,
    wait_for_step,
    wait_phase,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
__all__ = ["crd", "operator", "start_job", "start_operator"]  # fixtures used by name


def kubectl_finetune(
    cluster: Cluster, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``kubectl finetune ARGS`` from this checkout."""
    paths = [ROOT / "api", ROOT / "trainer-image", ROOT / "cli"]
    full_env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "finetune_cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_create_watch_list_describe_logs_plot_cancel(  # noqa: PLR0917 (fixtures)
    cluster: Cluster,
    namespace: str,
    s3: S3Endpoint,
    operator: Operator,
    start_job: Any,  # its set-up: the bucket and the s3-credentials Secret
    tmp_path: Path,
) -> None:
    name = "cli-happy"
    key = f"data/{namespace}/{name}.jsonl"
    lines = [json.dumps({"text": f"example {i}"}) for i in range(20)]
    lines.append(json.dumps({"standin": {"steps": 4, "stepSeconds": 1}}))
    s3.client().put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode())
    flags = [
        "-n", namespace, "create", "--name", name,
        "--model", f"s3://{BUCKET}/models/base/",
        "--data", f"s3://{BUCKET}/{key}",
        "--output", f"s3://{BUCKET}/out/{namespace}/{name}/",
        "--credentials-secret", "s3-credentials", "--region", s3.region,
    ]  # fmt: skip

    server_view = json.loads(
        ok(kubectl_finetune(cluster, *flags, "--dry-run=server", "-o", "json"))
    )
    assert server_view["spec"]["hyperparameters"]["epochs"] == 3  # the CRD's default
    assert ok(kubectl_finetune(cluster, *flags)) == f"finetunejob.finetune.dev/{name} created\n"

    watched = ok(kubectl_finetune(cluster, "-n", namespace, "watch", name, "--interval", "1"))
    assert f"{name} Succeeded" in watched
    assert "step 4/4" in watched

    listed = ok(kubectl_finetune(cluster, "-n", namespace, "list")).splitlines()
    assert listed[0].split() == ["NAME", "PHASE", "PROGRESS", "TRAIN", "LOSS", "EVAL", "LOSS",
                                 "ACCURACY", "AGE"]  # fmt: skip
    row = next(line for line in listed if line.startswith(name))
    assert row.split()[1:4] == ["Succeeded", "██████████", "100%"]
    everywhere = ok(kubectl_finetune(cluster, "list", "-A"))
    assert any(line.split()[:2] == [namespace, name] for line in everywhere.splitlines())

    described = ok(kubectl_finetune(cluster, "-n", namespace, "describe", name))
    for expected in ("Metrics (base → tuned)", "Eval loss", "2.5 → 1.25", "Train examples",
                     "manifest.json", "Events", "Succeeded"):  # fmt: skip
        assert expected in described, described

    logged = ok(kubectl_finetune(cluster, "-n", namespace, "logs", name))
    assert "standin: exit 0" in logged
    missing_rank = kubectl_finetune(cluster, "-n", namespace, "logs", name, "--rank", "3")
    assert missing_rank.returncode == 1
    assert missing_rank.stderr == f"error: no trainer pod of rank 3 for {name} (phase Succeeded)\n"

    # The stand-in publishes placeholder files; a real trainer's metrics.json goes in their place.
    history = [{"step": 0, "base_eval_loss": 2.5}, {"step": 1, "loss": 2.0},
               {"step": 4, "loss": 0.5}, {"step": 4, "eval_loss": 1.25}]  # fmt: skip
    s3.client().put_object(
        Bucket=BUCKET,
        Key=f"out/{namespace}/{name}/metrics.json",
        Body=json.dumps({"final": {}, "history": history}).encode(),
    )
    png = tmp_path / "loss.png"
    no_keys = {
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    refused = kubectl_finetune(cluster, "-n", namespace, "plot", name, "-o", str(png), env=no_keys)
    assert refused.returncode == 1 and refused.stderr.startswith("error: no S3 credentials")
    plotted = kubectl_finetune(
        cluster, "-n", namespace, "plot", name, "-o", str(png), "--s3-endpoint", s3.url,
        env=s3.env(),
    )  # fmt: skip
    assert f"wrote {png}" in ok(plotted)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    cancelled = ok(kubectl_finetune(cluster, "-n", namespace, "cancel", name))
    assert cancelled.startswith(f"finetunejob.finetune.dev/{name} cancelled")
    gone = kubectl_finetune(cluster, "-n", namespace, "describe", name)
    assert gone.returncode == 1
    assert gone.stderr == (f"error: finetunejob {name!r} in namespace {namespace!r} not found\n")


def test_watch_exits_non_zero_with_the_reason(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    name = start_job("cli-fails", {"steps": 3, "stepSeconds": 0.5, "exit": 3})
    watched = kubectl_finetune(cluster, "-n", namespace, "watch", name, "--interval", "1")
    assert watched.returncode == 1
    assert watched.stderr.startswith(f"error: {name} Failed: InvalidCredentials"), watched.stderr


def test_suspend_and_resume(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    name = start_job("cli-pause", {"steps": 40, "stepSeconds": 1})
    wait_for_step(cluster, namespace, name, 1)
    assert ok(kubectl_finetune(cluster, "-n", namespace, "suspend", name)) == (
        f"finetunejob.finetune.dev/{name} suspended\n"
    )
    wait_phase(cluster, namespace, name, "Suspended")
    assert get_ftj(cluster, namespace, name)["spec"]["runPolicy"]["suspend"] is True
    assert ok(kubectl_finetune(cluster, "-n", namespace, "resume", name)) == (
        f"finetunejob.finetune.dev/{name} resumed\n"
    )
    wait_phase(cluster, namespace, name, "Running")
    wait_for(
        "resume recorded in spec",
        lambda: get_ftj(cluster, namespace, name)["spec"]["runPolicy"]["suspend"] is False,
    )


def test_bad_input_and_missing_jobs_are_one_line_errors(cluster: Cluster, namespace: str) -> None:
    missing = kubectl_finetune(cluster, "-n", namespace, "watch", "nope")
    assert missing.returncode == 1
    assert missing.stderr == f"error: finetunejob 'nope' in namespace {namespace!r} not found\n"
    bad = kubectl_finetune(
        cluster, "-n", namespace, "create", "--name", "x", "--model", "s3://models/b/",
        "--data", "s3://data/t.jsonl", "--output", "s3://models/o/", "--epochs", "0",
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: flags: spec.hyperparameters.epochs (--epochs): ")
