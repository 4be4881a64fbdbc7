"""Only a run's own checkpoints are resumed, never those another job left at the same output."""

from __future__ import annotations

import json
import uuid

import pytest
from devcluster.s3 import S3Endpoint

from finetune_trainer.checkpoints import MARKER, CheckpointStore, step_dir
from finetune_trainer.storage import Storage
from finetune_trainer.uris import ObjectUri


def put_checkpoint(
    s3: S3Endpoint, bucket: str, prefix: str, step: int, *, run: str, uid: str | None = "u-1"
) -> None:
    key = f"{prefix}/checkpoints/{step_dir(step)}"
    client = s3.client()
    client.put_object(Bucket=bucket, Key=f"{key}/weights.bin", Body=b"w")
    marker = {"step": step, "run": run, "uid": uid, "files": [{"path": "weights.bin", "size": 1}]}
    client.put_object(Bucket=bucket, Key=f"{key}/{MARKER}", Body=json.dumps(marker).encode())


@pytest.fixture
def output(s3: S3Endpoint, bucket: str, monkeypatch: pytest.MonkeyPatch) -> ObjectUri:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return ObjectUri.parse(f"s3://{bucket}/{uuid.uuid4().hex[:10]}/")


def store(output: ObjectUri, run: str, uid: str | None = "u-1", keep: int = 2) -> CheckpointStore:
    return CheckpointStore(Storage(), output, keep=keep, run=run, uid=uid)


def test_resumes_only_its_own_run(s3: S3Endpoint, output: ObjectUri) -> None:
    put_checkpoint(s3, output.bucket, output.key.rstrip("/"), 10, run="mine")
    put_checkpoint(s3, output.bucket, output.key.rstrip("/"), 20, run="another-job")

    assert store(output, "mine").newest_resumable() == 10
    assert store(output, "new").newest_resumable() is None


def test_resumes_only_its_own_uid(s3: S3Endpoint, output: ObjectUri) -> None:
    """A job re-created under the same name (same spec, new uid) starts from step 0."""
    put_checkpoint(s3, output.bucket, output.key.rstrip("/"), 10, run="mine", uid="u-1")
    put_checkpoint(s3, output.bucket, output.key.rstrip("/"), 20, run="mine", uid="u-2")

    assert store(output, "mine", uid="u-1").newest_resumable() == 10
    assert store(output, "mine", uid="u-3").newest_resumable() is None


def test_prunes_only_its_own_checkpoints(s3: S3Endpoint, output: ObjectUri) -> None:
    prefix = output.key.rstrip("/")
    for step, uid in ((10, "u-other"), (20, "u-1"), (30, "u-1"), (40, "u-1")):
        put_checkpoint(s3, output.bucket, prefix, step, run="mine", uid=uid)
    mine = store(output, "mine", keep=2)
    mine.prune()
    assert mine.inventory().complete == (10, 30, 40)
