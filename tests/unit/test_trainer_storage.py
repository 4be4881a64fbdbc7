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
from finetune_trainer.retry import Verdict
from finetune_trainer.storage import S3Uri, UnsafeKey, classify, local_path


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
    parsed = S3Uri.parse(uri)
    assert (parsed.bucket, parsed.prefix) == (bucket, prefix)
    assert str(parsed.join("checkpoints", "step-000010")).startswith(f"s3://{bucket}/{prefix}")


def test_uri_join() -> None:
    assert str(S3Uri.parse("s3://b/out/").join("adapter/x.json")) == "s3://b/out/adapter/x.json"


def test_bad_uri() -> None:
    with pytest.raises(InvalidConfig):
        S3Uri.parse("https://x/y")


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
