"""Fixtures for trainer tests: the tiny model in S3, a fresh bucket, AWS env, S3 outages."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from devcluster.s3 import S3Endpoint
from devcluster.settings import Settings
from tests.support.outage import Outage
from tests.trainer.tiny import build_model, chat_examples, write_jsonl

pytest.importorskip("trl")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def aws_env(s3: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """AWS env for in-process runs, scratch and termination log under tmp_path."""
    env = s3.env() | {
        "FINETUNE_SCRATCH": str(tmp_path / "scratch"),
        "FINETUNE_TERMINATION_LOG": str(tmp_path / "termination-log"),
        "FINETUNE_PROGRESS_PORT": "0",
        "TORCH_EXTENSIONS_DIR": os.environ.get(
            "TORCH_EXTENSIONS_DIR",
            str(Path.home() / ".cache" / "finetune-operator" / "torch_extensions"),
        ),
        "DS_ACCELERATOR": "cpu",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="session")
def bucket(s3: S3Endpoint) -> str:
    """One bucket for every trainer test (each bucket costs SeaweedFS a volume); tests use
    their own prefix. Waits until the bucket takes writes: the volume server may register late.
    """
    name = f"trainer-tests-{uuid.uuid4().hex[:8]}"
    client = s3.client()
    client.create_bucket(Bucket=name)
    deadline = time.monotonic() + 60
    while True:
        try:
            client.put_object(Bucket=name, Key="ready", Body=b"")
            return name
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def upload_dir(s3: S3Endpoint, local: Path, bucket: str, prefix: str) -> str:
    client = s3.client()
    for path in sorted(local.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(local).as_posix()}")
    return f"s3://{bucket}/{prefix}/"


@pytest.fixture
def inputs(s3: S3Endpoint, bucket: str, tiny_model: Path, tmp_path: Path) -> dict[str, str]:
    """The tiny model and a 64/16 chat dataset under this test's own prefix. Like the demo's,
    only the eval records carry ``expected`` (the two files' columns differ)."""
    client = s3.client()
    prefix = uuid.uuid4().hex[:10]
    model_uri = upload_dir(s3, tiny_model, bucket, f"{prefix}/base")
    for name, n, seed in (("train", 64, 1), ("eval", 16, 2)):
        records = chat_examples(n, seed)
        if name == "eval":
            records = [r | {"expected": [r["messages"][-1]["content"]]} for r in records]
        path = write_jsonl(tmp_path / f"{name}.jsonl", records)
        client.upload_file(str(path), bucket, f"{prefix}/data/{name}.jsonl")
    return {
        "bucket": bucket,
        "prefix": prefix,
        "model": model_uri,
        "train": f"s3://{bucket}/{prefix}/data/train.jsonl",
        "eval": f"s3://{bucket}/{prefix}/data/eval.jsonl",
        "output": f"s3://{bucket}/{prefix}/out/",
    }


@pytest.fixture
def no_signal_handlers() -> Iterator[None]:
    """In-process training installs a SIGTERM handler; restore pytest's afterwards."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def s3_outage(s3: S3Endpoint, testenv_settings: Settings) -> Iterator[Outage]:
    """Outages of this session's private S3 server; S3 is up again after the test.

    Stopping S3 would break every other session sharing the server, so these tests run only
    with a private state dir (``FINETUNE_TESTENV_STATE`` and private ports; docs/reliability.md).
    """
    if not os.environ.get("FINETUNE_TESTENV_STATE"):
        pytest.skip("stops S3: needs a private server (set FINETUNE_TESTENV_STATE and its ports)")
    outage = Outage(testenv_settings)
    yield outage
    outage.end()
