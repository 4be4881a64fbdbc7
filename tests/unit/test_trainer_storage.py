"""Object keys are never trusted as local paths; URIs split into bucket and prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from finetune_trainer.errors import InvalidConfig
from finetune_trainer.storage import S3Uri, UnsafeKey, local_path


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
