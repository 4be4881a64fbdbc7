"""Atomic publishing against the real S3 (SeaweedFS): an interrupted publish on top of a complete
output, a publish finished by a retry, and stale files removed by the next publish.

No training here: the publish step (``outputs.publish_tree``) runs on small trees with the
trainer's own Storage; a reader independent of the trainer (plain boto3) checks every file the
manifest lists. One file is over the multipart threshold, so the copy into place is a multipart
server-side copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from devcluster.s3 import S3Endpoint
from s3transfer.manager import TransferManager
from tests.support.files import write_tree

from finetune_trainer.manifest import build_manifest
from finetune_trainer.outputs import finish, publish_tree
from finetune_trainer.storage import Storage
from finetune_trainer.uris import ObjectUri

pytestmark = [pytest.mark.usefixtures("aws_env")]

LARGE = os.urandom(20 * 2**20)  # over s3transfer's 8 MiB threshold: a multipart copy
EARLIER = {
    "adapter/adapter_model.safetensors": LARGE,
    "README.md": b"# earlier",
    "metrics.json": b'{"final": {"evalLoss": 2.0}}',
    "earlier-only.txt": b"written by the earlier run only",
}
NEWER = {
    "adapter/adapter_model.safetensors": LARGE[::-1],
    "README.md": b"# newer",
    "metrics.json": b'{"final": {"evalLoss": 1.0}}',
    "eval/generations.jsonl": b"{}\n",
}


class Interrupted(Exception):
    """The injected failure: the pod dies mid-publish."""


def publish(output: str, root: Path, contents: dict[str, bytes], run: str) -> None:
    files = write_tree(root / run, contents)
    manifest = build_manifest(files, {"job": {"run": run}}, "2026-01-01T00:00:00Z")
    publish_tree(Storage(), ObjectUri.parse(output), files, manifest, f"attempt-{run}")


def read_by_manifest(s3: S3Endpoint, output: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Every file the manifest lists, below its root, each checked against its size and sha256."""
    bucket, _, prefix = output[len("s3://") :].partition("/")
    client = s3.client()
    manifest = json.loads(
        client.get_object(Bucket=bucket, Key=prefix + "manifest.json")["Body"].read()
    )
    files = {}
    for entry in manifest["files"]:
        key = prefix + manifest["root"] + entry["path"]
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert len(data) == entry["size"], entry["path"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
        files[entry["path"]] = data
    return manifest, files


def keys_below(s3: S3Endpoint, output: str) -> set[str]:
    bucket, _, prefix = output[len("s3://") :].partition("/")
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", [])}


class DiedFuture:
    """A transfer cut off by the process dying: waiting for it raises, nothing retries it."""

    def __init__(self, method: str) -> None:
        self.method = method

    def result(self) -> None:
        raise Interrupted(self.method)

    def cancel(self) -> None:
        pass


def fail_after(monkeypatch: pytest.MonkeyPatch, method: str, calls: int) -> None:
    """The transfer manager's <method> (``upload``, ``copy``) works ``calls`` times, then the
    process 'dies' (no retry can help): the transfers before it complete, later ones never run."""
    original = getattr(TransferManager, method)
    done: list[tuple[Any, ...]] = []

    def failing(self: TransferManager, *args: Any, **kwargs: Any) -> Any:
        if len(done) >= calls:
            return DiedFuture(method)
        done.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TransferManager, method, failing)


@pytest.fixture
def output(bucket: str) -> str:
    return f"s3://{bucket}/{uuid.uuid4().hex[:10]}/out/"


def test_interrupted_upload_keeps_the_earlier_output_readable(
    s3: S3Endpoint, output: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(output, tmp_path, EARLIER, "earlier")
    with monkeypatch.context() as patch:
        fail_after(patch, "upload", 2)
        with pytest.raises(Interrupted):
            publish(output, tmp_path, NEWER, "newer")
    manifest, files = read_by_manifest(s3, output)
    assert manifest["provenance"]["job"]["run"] == "earlier"
    assert files == EARLIER
    assert any(k.startswith(".staging/attempt-newer/") for k in keys_below(s3, output))


def test_interrupted_promotion_is_readable_and_finished_by_a_retry(
    s3: S3Endpoint, output: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the commit, mid-copy: the manifest vouches for the complete staged copy;
    the same run's retry copies the rest into place and cleans up."""
    publish(output, tmp_path, EARLIER, "earlier")
    with monkeypatch.context() as patch:
        fail_after(patch, "copy", 1)
        with pytest.raises(Interrupted):
            publish(output, tmp_path, NEWER, "newer")
    manifest, files = read_by_manifest(s3, output)
    assert manifest["root"] == ".staging/attempt-newer/"
    assert files == NEWER
    finish(Storage(), ObjectUri.parse(output), manifest)
    manifest, files = read_by_manifest(s3, output)
    assert manifest["root"] == "" and files == NEWER
    assert keys_below(s3, output) == set(NEWER) | {"manifest.json"}


def test_second_publish_removes_stale_files(s3: S3Endpoint, output: str, tmp_path: Path) -> None:
    """The earlier run's files that the new one does not list are deleted after the manifest;
    checkpoints and files no publish wrote stay."""
    client = s3.client()
    bucket, _, prefix = output[len("s3://") :].partition("/")
    publish(output, tmp_path, EARLIER, "earlier")
    client.put_object(
        Bucket=bucket, Key=prefix + "checkpoints/step-000004/_COMPLETE.json", Body=b"{}"
    )
    client.put_object(Bucket=bucket, Key=prefix + "notes.txt", Body=b"not the trainer's")
    publish(output, tmp_path, NEWER, "newer")
    manifest, files = read_by_manifest(s3, output)
    assert files == NEWER
    assert manifest["replaced"] == ["earlier-only.txt"]
    assert keys_below(s3, output) == set(NEWER) | {
        "manifest.json",
        "checkpoints/step-000004/_COMPLETE.json",
        "notes.txt",
    }
