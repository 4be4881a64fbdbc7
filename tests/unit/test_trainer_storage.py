"""Object keys are never trusted as local paths; URIs split into bucket and prefix; which
storage errors are retried (table-driven)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from s3transfer.exceptions import RetriesExceededError

from finetune_trainer.errors import InvalidConfig
from finetune_trainer.localstore import LocalStore
from finetune_trainer.retry import Verdict
from finetune_trainer.storage import UnsafeKey, classify, local_path
from finetune_trainer.uris import ObjectUri


@pytest.mark.parametrize(
    "key",
    ["../evil", "a/../../evil", "/etc/passwd", "a/./b", "..", "a\\..\\b", "x/.."],
)
def test_unsafe_keys_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(UnsafeKey):
        local_path(tmp_path, key)


@pytest.mark.parametrize("key", ["config.json", "sub/dir/model.safetensors", "a..b.txt"])
def test_safe_keys_stay_inside(tmp_path: Path, key: str) -> None:
    path = local_path(tmp_path, key)
    assert path.resolve().is_relative_to(tmp_path.resolve())


def test_unsafe_key_is_an_invalid_model() -> None:
    assert UnsafeKey("x").reason == "InvalidModel"
    assert UnsafeKey("x").exit_code == 3


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://models/base/", "models", "base/"),
        ("s3://models/base", "models", "base/"),
        ("s3://models", "models", ""),
    ],
)
def test_uri(uri: str, bucket: str, prefix: str) -> None:
    parsed = ObjectUri.parse(uri)
    assert (parsed.bucket, parsed.prefix) == (bucket, prefix)
    assert str(parsed.join("checkpoints", "step-000010")).startswith(f"s3://{bucket}/{prefix}")


def test_uri_join() -> None:
    assert str(ObjectUri.parse("s3://b/out/").join("adapter/x.json")) == "s3://b/out/adapter/x.json"


def test_bad_uri() -> None:
    with pytest.raises(InvalidConfig):
        ObjectUri.parse("https://x/y")


def client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "GetObject")


def upload_failed(code: str, status: int) -> Exception:
    """boto3's upload_file re-raises a ClientError as S3UploadFailedError, inside the except."""
    try:
        raise client_error(code, status)
    except ClientError:
        try:
            raise S3UploadFailedError("Failed to upload x to b/k: ...")
        except S3UploadFailedError as exc:
            return exc


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (EndpointConnectionError(endpoint_url="http://s3:8333"), Verdict.TRANSIENT),
        (ConnectTimeoutError(endpoint_url="http://s3:8333"), Verdict.TRANSIENT),
        (ReadTimeoutError(endpoint_url="http://s3:8333"), Verdict.TRANSIENT),
        (RetriesExceededError(last_exception=OSError()), Verdict.TRANSIENT),
        (client_error("SlowDown", 503), Verdict.TRANSIENT),
        (client_error("InternalError", 500), Verdict.TRANSIENT),
        (client_error("Whatever", 502), Verdict.TRANSIENT),
        (client_error("TooManyRequests", 429), Verdict.TRANSIENT),
        (client_error("AccessDenied", 403), Verdict.CREDENTIALS),
        (client_error("ExpiredToken", 400), Verdict.CREDENTIALS),
        (client_error("403", 403), Verdict.CREDENTIALS),
        (upload_failed("ExpiredToken", 400), Verdict.CREDENTIALS),
        (upload_failed("ServiceUnavailable", 503), Verdict.TRANSIENT),
        (client_error("SignatureDoesNotMatch", 403), Verdict.FINAL),
        (client_error("InvalidAccessKeyId", 403), Verdict.FINAL),
        (client_error("NoSuchBucket", 404), Verdict.FINAL),
        (client_error("404", 404), Verdict.FINAL),
        (NoCredentialsError(), Verdict.FINAL),
        (ValueError("not storage"), Verdict.FINAL),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v.value,
)
def test_classify(error: Exception, verdict: Verdict) -> None:
    assert classify(error) is verdict


def test_file_uri_parses_to_a_local_path() -> None:
    uri = ObjectUri.parse("file:///tmp/run/out/")
    assert uri.is_local and uri.prefix == "tmp/run/out/"
    assert str(uri.join("adapter", "x.json")) == "file:///tmp/run/out/adapter/x.json"
    with pytest.raises(InvalidConfig):
        ObjectUri.parse("file://host/out/")


def test_local_store_round_trip(tmp_path: Path) -> None:
    """What publishing does against S3, on a folder: upload, list, copy, get, delete."""
    storage = LocalStore()
    out = ObjectUri.parse(f"file://{tmp_path}/out/")
    source = tmp_path / "weights.bin"
    source.write_bytes(b"1234")
    storage.upload_file(source, out.join(".staging/a/weights.bin"))
    storage.copy_object(out.join(".staging/a/weights.bin"), out.join("weights.bin"))
    storage.put_bytes(out.join("manifest.json"), b"{}")
    listed = {o.relative: o.size for o in storage.list_objects(out)}
    assert listed == {".staging/a/weights.bin": 4, "weights.bin": 4, "manifest.json": 2}
    assert storage.get_bytes(out.join("weights.bin")) == b"1234"
    storage.delete(out.join(".staging/a/weights.bin"))
    assert not storage.exists(out.join(".staging/a/weights.bin"))
    assert storage.exists(out.join("weights.bin"))
    assert storage.list_objects(out.join("missing/")) == []


def test_local_store_names_the_path_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(InvalidConfig, match=r"file://.*/file/x"):
        LocalStore().put_bytes(ObjectUri.parse(f"file://{tmp_path}/file/x"), b"")
