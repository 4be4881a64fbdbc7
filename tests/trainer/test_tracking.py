"""spec.tracking: TensorBoard event files land under ``<output>/tensorboard/`` with the
training curves in them, uploaded in place beside the published output (never in its
manifest, never deleted by publishing); MLflow logs the run to its tracking URI; W&B writes its
offline run."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from devcluster.s3 import S3Endpoint
from tensorboardX.proto.event_pb2 import Event
from tests.support.manifests import trainer_job
from tests.trainer.inprocess import train_in_process

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("aws_env", "no_signal_handlers")]


def scalar_tags(record_file: bytes) -> dict[str, list[int]]:
    """{tag: steps} of the scalars in a TFRecord event file (length, CRC, event, CRC)."""
    tags: dict[str, list[int]] = {}
    offset = 0
    while offset < len(record_file):
        (length,) = struct.unpack_from("<Q", record_file, offset)
        event = Event.FromString(record_file[offset + 12 : offset + 12 + length])
        offset += 12 + length + 4
        for value in event.summary.value:
            if value.HasField("simple_value"):
                tags.setdefault(value.tag, []).append(event.step)
    return tags


def test_tensorboard_event_files_land_under_the_output(
    s3: S3Endpoint, inputs: dict[str, str]
) -> None:
    # Checkpoints (and uploads) at step 4 and at the last step, 6; each evaluates first.
    job = trainer_job(
        inputs,
        tracking={"tensorboard": True},
        hyperparameters={"maxSteps": 6},
        checkpointing={"everySteps": 4},
    )
    result = train_in_process(job)
    assert result.summary.wire()["ok"]

    client = s3.client()
    bucket, prefix = inputs["bucket"], f"{inputs['prefix']}/out/"
    keys = [
        o["Key"][len(prefix) :]
        for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    ]
    events = [k for k in keys if k.startswith("tensorboard/") and "tfevents" in k]
    assert events, keys
    tags: dict[str, list[int]] = {}
    for key in events:
        body = client.get_object(Bucket=bucket, Key=prefix + key)["Body"].read()
        for tag, steps in scalar_tags(body).items():
            tags.setdefault(tag, []).extend(steps)
    assert result.summary.wire()["step"] == 6
    assert sorted(tags["train/loss"]) == [1, 2, 3, 4, 5, 6]
    assert sorted(tags["eval/loss"]) == [4, 6]
    manifest: dict[str, Any] = json.loads(
        client.get_object(Bucket=bucket, Key=prefix + "manifest.json")["Body"].read()
    )
    assert not [f for f in manifest["files"] if f["path"].startswith("tensorboard/")]


def test_without_tracking_nothing_is_written_for_tensorboard(
    s3: S3Endpoint, inputs: dict[str, str]
) -> None:
    train_in_process(trainer_job(inputs, hyperparameters={"maxSteps": 2}))
    listing = s3.client().list_objects_v2(
        Bucket=inputs["bucket"], Prefix=f"{inputs['prefix']}/out/tensorboard/"
    )
    assert listing.get("KeyCount", 0) == 0


def test_mlflow_logs_the_run_to_the_tracking_uri(
    inputs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local file store stands in for a tracking server (no network)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for a database
    store = f"file://{tmp_path / 'mlruns'}"
    tracking = {"mlflow": {"trackingUri": store, "experimentName": "support"}}
    job = trainer_job(inputs, tracking=tracking, hyperparameters={"maxSteps": 2})
    train_in_process(job)

    from mlflow.tracking import MlflowClient  # noqa: PLC0415 (heavy; only this test)

    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("support")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == job["metadata"]["name"]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [1, 2]


def test_wandb_offline_writes_its_run_dir(
    inputs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline mode (as a user sets it with podTemplate.env) needs no key and no network; in a
    pod the scratch layout places WANDB_DIR, here the test does."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    job = trainer_job(
        inputs, tracking={"wandb": {"project": "support"}}, hyperparameters={"maxSteps": 2}
    )
    train_in_process(job)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, runs
    assert list(runs[0].glob("run-*.wandb"))  # the run's log of metrics
