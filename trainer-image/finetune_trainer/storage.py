"""Object storage (S3 or compatible) behind one small class.

Credentials and endpoint come from the standard AWS environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``), which boto3 reads itself.
Transfers use s3transfer's parallel multipart machinery; many small files go through a thread
pool. Object keys are never trusted as local paths: ``local_path`` refuses ``..`` and absolute keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError

from finetune_api.reasons import Reason
from finetune_trainer.errors import InputError, InvalidConfig, InvalidCredentials

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PARALLEL_FILES = 8
"""Files transferred at once; each large file is also split into parallel multipart chunks."""

CREDENTIAL_ERRORS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
}


class UnsafeKey(InputError):
    """An object key that would escape the local directory it is downloaded into."""

    reason = Reason.INVALID_MODEL


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        if not uri.startswith("s3://"):
            raise InvalidConfig(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket:
            raise InvalidConfig(f"no bucket in {uri!r}")
        return cls(bucket, key)

    @property
    def prefix(self) -> str:
        """The key as a folder prefix ('' for the bucket root, else ending with '/')."""
        return self.key if not self.key or self.key.endswith("/") else self.key + "/"

    def join(self, *parts: str) -> S3Uri:
        return S3Uri(self.bucket, self.prefix + "/".join(p.strip("/") for p in parts))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def check_key(relative_key: str) -> tuple[str, ...]:
    """The key's path parts; UnsafeKey for keys that could escape the directory they land in."""
    if relative_key.startswith("/") or "\\" in relative_key:
        raise UnsafeKey(f"object key {relative_key!r} is absolute or uses backslashes; refused")
    parts = PurePosixPath(relative_key).parts
    if not parts or any(p in ("..", ".") for p in relative_key.split("/")):
        raise UnsafeKey(f"object key {relative_key!r} contains '..' or '.'; refused")
    return parts


def local_path(root: Path, relative_key: str) -> Path:
    """Map a key below a prefix to a path under root, refusing keys that could escape it."""
    return root.joinpath(*check_key(relative_key))


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    relative: str
    size: int


class Storage:
    """The S3 operations the trainer needs, with credential errors mapped to InvalidCredentials."""

    def __init__(self) -> None:
        # A session of its own reads the AWS_* env now, not whatever boto3's default cached.
        self.client: S3Client = boto3.session.Session().client(
            "s3",
            config=Config(
                max_pool_connections=4 * PARALLEL_FILES,
                retries={"max_attempts": 5, "mode": "standard"},
            ),
        )

    @staticmethod
    def _transfer_config() -> Any:
        return TransferConfig(multipart_chunksize=16 * 2**20, max_concurrency=4)

    def list_objects(self, uri: S3Uri) -> list[ObjectInfo]:
        """Every object below uri's prefix (folder markers skipped)."""
        out: list[ObjectInfo] = []
        with _mapped_errors(uri):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=uri.bucket, Prefix=uri.prefix):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if key.endswith("/"):
                        continue
                    out.append(ObjectInfo(key, key[len(uri.prefix) :], obj["Size"]))
        return out

    def exists(self, uri: S3Uri) -> bool:
        try:
            with _mapped_errors(uri):
                self.client.head_object(Bucket=uri.bucket, Key=uri.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def download_file(self, uri: S3Uri, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with _mapped_errors(uri):
            self.client.download_file(
                uri.bucket, uri.key, str(dest), Config=self._transfer_config()
            )
        return dest

    def download_prefix(
        self, uri: S3Uri, dest: Path, include: Callable[[str], bool] = lambda _: True
    ) -> list[Path]:
        """Download every object below uri whose relative key passes include, in parallel."""
        objects = [o for o in self.list_objects(uri) if include(o.relative)]
        targets = [(o, local_path(dest, o.relative)) for o in objects]
        with ThreadPoolExecutor(PARALLEL_FILES) as pool:
            list(
                pool.map(
                    lambda ot: self.download_file(S3Uri(uri.bucket, ot[0].key), ot[1]), targets
                )
            )
        return [t for _, t in targets]

    def upload_file(self, path: Path, uri: S3Uri) -> None:
        with _mapped_errors(uri):
            self.client.upload_file(str(path), uri.bucket, uri.key, Config=self._transfer_config())

    def upload_files(self, files: dict[str, Path], prefix: S3Uri) -> None:
        """Upload {relative key: local path} below prefix, in parallel."""
        with ThreadPoolExecutor(PARALLEL_FILES) as pool:
            list(pool.map(lambda kv: self.upload_file(kv[1], prefix.join(kv[0])), files.items()))

    def put_bytes(self, uri: S3Uri, data: bytes, content_type: str = "application/json") -> None:
        with _mapped_errors(uri):
            self.client.put_object(
                Bucket=uri.bucket, Key=uri.key, Body=data, ContentType=content_type
            )

    def get_bytes(self, uri: S3Uri) -> bytes:
        with _mapped_errors(uri):
            body: bytes = self.client.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
        return body

    def delete(self, uris: list[S3Uri]) -> None:
        for uri in uris:
            with _mapped_errors(uri):
                self.client.delete_object(Bucket=uri.bucket, Key=uri.key)


def files_under(root: Path) -> dict[str, Path]:
    """{relative posix key: path} for every file below root, sorted for stable manifests."""
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


@contextmanager
def _mapped_errors(uri: S3Uri) -> Iterator[None]:
    """Turn credential and missing-bucket errors into permanent InputErrors naming the URI."""
    try:
        yield
    except NoCredentialsError as exc:
        raise InvalidCredentials(f"{uri}: no S3 credentials (set AWS_ACCESS_KEY_ID)") from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in CREDENTIAL_ERRORS:
            raise InvalidCredentials(f"{uri}: S3 refused the credentials ({code})") from exc
        if code == "NoSuchBucket":
            raise InvalidConfig(f"{uri}: bucket {uri.bucket!r} does not exist") from exc
        raise
