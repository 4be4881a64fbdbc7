"""Only a run's own checkpoints are resumed, never those another job left at the same output."""

from __future__ import annotations

import json
import uuid

import pytest
from devcluster.s3 import S3Endpoint

from finetune_trainer.checkpoints import MARKER, CheckpointStore, step_dir
from finetune_trainer.storage import S3Uri, Storage


def put_checkpoint(s3: S3Endpoint, bucket: str, prefix: str, step: int, run: str) -> None:
    key = f"{prefix}/checkpoints/{step_dir(step)}"
    client = s3.client()
    client.put_object(Bucket=bucket, Key=f"{key}/weights.bin", Body=b"w")
    marker = {"step": step, "run": run, "files": [{"path": "weights.bin", "size": 1}]}
    client.put_object(Bucket=bucket, Key=f"{key}/{MARKER}", Body=json.dumps(marker).encode())


def test_resumes_only_its_own_run(
    s3: S3Endpoint, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    prefix = uuid.uuid4().hex[:10]
    put_checkpoint(s3, bucket, prefix, 10, run="mine")
    put_checkpoint(s3, bucket, prefix, 20, run="another-job")
    output = S3Uri.parse(f"s3://{bucket}/{prefix}/")

    assert CheckpointStore(Storage(), output, keep=2, run="mine").newest_resumable() == 10
    assert CheckpointStore(Storage(), output, keep=2, run="new").newest_resumable() is None
