"""Object storage (S3 or compatible, or a local directory for ``kubectl finetune run --local``)
behind one small class.

Credentials and endpoint come from the standard AWS environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``), which boto3 reads itself.
Every transfer (download, upload, server-side copy) goes through one s3transfer
``TransferManager`` per ``Storage``: a batch of many files is submitted to it at once, and its
``max_request_concurrency`` bounds the requests in flight across all of them, multipart parts
and small files alike. One manager per file (``client.download_file``) would start a thread pool
per call and multiply the limits by the files in flight. Object keys are never trusted as local
paths: ``local_path`` refuses ``..`` and absolute keys.

Outages are retried at two levels: botocore retries each request (``BOTOCORE_CONFIG``), and
every call here is retried whole for a bounded time (``retry.py``, ``classify``). A call that
still fails is StorageUnavailable (retryable, never exit 3), so a storage outage is never
mistaken for bad input. Error text from S3 is never copied into messages: only the error's
type and code, since a response or URL may carry a signature or an access key id.

``file://`` URIs go to ``localstore.LocalStore`` instead: the same operations on this machine's
filesystem. Only a local run's job can name one (``finetune_api.jobspec.LOCAL_URIS``); a job
in a pod is parsed without that permission, so the trainer there never touches its own disk
through a URI.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from s3transfer.exceptions import RetriesExceededError
from s3transfer.futures import TransferFuture
from s3transfer.manager import TransferConfig, TransferManager

from finetune_api.reasons import Reason
from finetune_trainer.errors import (
    InputError,
    InvalidConfig,
    InvalidCredentials,
    StorageUnavailable,
)
from finetune_trainer.localstore import LocalStore
from finetune_trainer.retry import RetriesExhausted, RetryPolicy, Verdict, call_with_retries
from finetune_trainer.uris import ObjectInfo, ObjectUri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PARALLEL_REQUESTS = 16
"""Requests in flight at once across every transfer of a ``Storage`` (parts of large files and
whole small files alike): enough to fill a node's link to S3 without flooding the service."""
TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=16 * 2**20,
    multipart_chunksize=16 * 2**20,
    max_request_concurrency=PARALLEL_REQUESTS,
    # Submitting a batch of files queues at most this many ahead of the running requests.
    max_request_queue_size=4 * PARALLEL_REQUESTS,
)

CREDENTIAL_ERRORS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
    "403",  # HEAD responses have no body, so no error code: only the status
}
"""Error codes that mean the credentials were refused (InvalidCredentials, exit 3)."""
RETRIED_CREDENTIAL_ERRORS = {"AccessDenied", "ExpiredToken", "403"}
"""Refusals that can heal by themselves (an IAM policy propagating, a token being refreshed):
retried for ``RetryPolicy.credentials_budget_s`` before they count."""
TRANSIENT_ERRORS = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
}
"""Error codes of a service that is down, overloaded or throttling; 5xx and 429 also count."""
BOTOCORE_CONFIG = Config(
    max_pool_connections=PARALLEL_REQUESTS + 4,
    # botocore's own retries smooth over a dropped connection or a 503 within seconds; the
    # bounded retry of whole calls (retry.py) rides out longer outages.
    retries={"max_attempts": 5, "mode": "standard"},
    connect_timeout=10,
    read_timeout=60,
    tcp_keepalive=True,
)
T = TypeVar("T")


class UnsafeKey(InputError):
    """An object key that would escape the local directory it is downloaded into."""

    reason = Reason.INVALID_MODEL


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


class Storage:
    """The S3 operations the trainer needs; each is retried per ``policy``, and its failures are
    InvalidCredentials, InvalidConfig (no bucket), StorageUnavailable, or botocore's own."""

    def __init__(self, policy: RetryPolicy | None = None) -> None:
        # A session of its own reads the AWS_* env now, not whatever boto3's default cached.
        self.client: S3Client = boto3.session.Session().client("s3", config=BOTOCORE_CONFIG)
        self.policy = policy or RetryPolicy.from_env(os.environ)
        self.transfers = TransferManager(self.client, TRANSFER_CONFIG)
        self.local = LocalStore()
        """file:// URIs (a local run, ``run --local``) go here instead of S3."""

    def _call(self, what: str, uri: ObjectUri, operation: Callable[[], T]) -> T:
        """operation retried per the policy, its errors mapped to the trainer's taxonomy."""
        with _mapped_errors(uri):
            return call_with_retries(
                operation, what=f"{what} {uri}", classify=classify, policy=self.policy
            )

    def _transfer_all(
        self, what: str, transfers: list[tuple[ObjectUri, Callable[[], TransferFuture]]]
    ) -> None:
        """Submit every (uri, submit) transfer to the shared manager at once, then wait for each;
        a failed one is submitted again per the retry policy. The first that fails for good
        cancels the rest and raises."""
        futures: list[TransferFuture] = []
        try:
            futures.extend(submit() for _, submit in transfers)
            for (uri, submit), future in zip(transfers, futures, strict=True):
                self._call(what, uri, _first_then_again(future, submit))
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def list_objects(self, uri: ObjectUri) -> list[ObjectInfo]:
        """Every object below uri's prefix (folder markers skipped)."""
        if uri.is_local:
            return self.local.list_objects(uri)

        def listing() -> list[ObjectInfo]:
            out: list[ObjectInfo] = []
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=uri.bucket, Prefix=uri.prefix):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if not key.endswith("/"):
                        out.append(ObjectInfo(key, key[len(uri.prefix) :], obj["Size"]))
            return out

        return self._call("list", uri, listing)

    def exists(self, uri: ObjectUri) -> bool:
        if uri.is_local:
            return self.local.exists(uri)
        try:
            self._call("head", uri, lambda: self.client.head_object(Bucket=uri.bucket, Key=uri.key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def download_file(self, uri: ObjectUri, dest: Path) -> Path:
        self.download_files([(uri, dest)])
        return dest

    def download_files(self, pairs: list[tuple[ObjectUri, Path]]) -> None:
        """Download (object, local path) pairs, all through the shared transfer manager."""
        for _, dest in pairs:
            dest.parent.mkdir(parents=True, exist_ok=True)
        for uri, dest in pairs:
            if uri.is_local:
                self.local.download_file(uri, dest)
        pairs = [(uri, dest) for uri, dest in pairs if not uri.is_local]
        self._transfer_all(
            "download",
            [
                (uri, partial(self.transfers.download, uri.bucket, uri.key, str(dest)))
                for uri, dest in pairs
            ],
        )

    def download_prefix(
        self, uri: ObjectUri, dest: Path, include: Callable[[str], bool] = lambda _: True
    ) -> list[Path]:
        """Download every object below uri whose relative key passes include, in parallel."""
        objects = [o for o in self.list_objects(uri) if include(o.relative)]
        targets = [(uri.with_key(o.key), local_path(dest, o.relative)) for o in objects]
        self.download_files(targets)
        return [path for _, path in targets]

    def upload_file(self, path: Path, uri: ObjectUri) -> None:
        self._upload([(uri, path)])

    def upload_files(self, files: dict[str, Path], prefix: ObjectUri) -> None:
        """Upload {relative key: local path} below prefix, in parallel."""
        self._upload([(prefix.join(key), path) for key, path in files.items()])

    def _upload(self, targets: list[tuple[ObjectUri, Path]]) -> None:
        for uri, path in targets:
            if uri.is_local:
                self.local.upload_file(path, uri)
        targets = [(uri, path) for uri, path in targets if not uri.is_local]
        self._transfer_all(
            "upload",
            [
                (uri, partial(self.transfers.upload, str(path), uri.bucket, uri.key))
                for uri, path in targets
            ],
        )

    def copy_object(self, source: ObjectUri, dest: ObjectUri) -> None:
        """A server-side copy (multipart for large objects): the bytes never pass through here."""
        self.copy_objects([(source, dest)])

    def copy_objects(self, pairs: list[tuple[ObjectUri, ObjectUri]]) -> None:
        """Server-side copies of (source, destination) pairs, in parallel."""
        for source, dest in pairs:
            if source.is_local or dest.is_local:
                self.local.copy_object(source, dest)
        pairs = [(s, d) for s, d in pairs if not (s.is_local or d.is_local)]
        self._transfer_all(
            "copy",
            [
                (
                    dest,
                    partial(
                        self.transfers.copy,
                        {"Bucket": source.bucket, "Key": source.key},
                        dest.bucket,
                        dest.key,
                    ),
                )
                for source, dest in pairs
            ],
        )

    def put_bytes(
        self, uri: ObjectUri, data: bytes, content_type: str = "application/json"
    ) -> None:
        if uri.is_local:
            return self.local.put_bytes(uri, data)
        self._call(
            "put",
            uri,
            lambda: self.client.put_object(
                Bucket=uri.bucket, Key=uri.key, Body=data, ContentType=content_type
            ),
        )

    def get_bytes(self, uri: ObjectUri) -> bytes:
        if uri.is_local:
            return self.local.get_bytes(uri)

        def body() -> bytes:
            data: bytes = self.client.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
            return data

        return self._call("get", uri, body)

    def delete(self, uris: list[ObjectUri]) -> None:
        for uri in uris:
            self._delete_one(uri)

    def _delete_one(self, uri: ObjectUri) -> None:
        if uri.is_local:
            return self.local.delete(uri)
        self._call("delete", uri, lambda: self.client.delete_object(Bucket=uri.bucket, Key=uri.key))


def _first_then_again(
    first: TransferFuture, submit: Callable[[], TransferFuture]
) -> Callable[[], None]:
    """An operation for ``call_with_retries``: wait for the transfer already submitted, and on
    each later attempt submit it again."""
    pending = [first]

    def attempt() -> None:
        future = pending.pop() if pending else submit()
        future.result()

    return attempt


def files_under(root: Path) -> dict[str, Path]:
    """{relative posix key: path} for every file below root, sorted for stable manifests."""
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def _client_error(exc: BaseException) -> ClientError | None:
    """The ClientError behind exc: boto3's upload_file re-raises one as S3UploadFailedError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ClientError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def classify(exc: Exception) -> Verdict:
    """Whether a failed storage call is worth another attempt (retry.py)."""
    if isinstance(exc, NoCredentialsError):
        return Verdict.FINAL
    if isinstance(exc, (BotoConnectionError, HTTPClientError, RetriesExceededError)):
        return Verdict.TRANSIENT  # refused, reset, timed out, or cut off mid-transfer
    client_error = _client_error(exc)
    if client_error is None:
        return Verdict.FINAL
    code = error_code(client_error)
    status = int(client_error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in RETRIED_CREDENTIAL_ERRORS:
        return Verdict.CREDENTIALS
    if code in TRANSIENT_ERRORS or status >= 500 or status == 429:
        return Verdict.TRANSIENT
    return Verdict.FINAL


@contextmanager
def _mapped_errors(uri: ObjectUri) -> Iterator[None]:
    """Turn credential and missing-bucket errors into permanent InputErrors naming the URI, and
    an exhausted retry budget into StorageUnavailable; S3's own error text is not copied."""
    try:
        yield
    except RetriesExhausted as exc:
        client_error = _client_error(exc.last)
        code = error_code(client_error) if client_error is not None else type(exc.last).__name__
        if exc.verdict is Verdict.CREDENTIALS:
            raise InvalidCredentials(
                f"{uri}: S3 refused the credentials ({code}) for {exc.elapsed_s:.0f} s"
            ) from exc
        raise StorageUnavailable(
            f"{uri}: S3 unavailable for {exc.elapsed_s:.0f} s, retries exhausted ({code})"
        ) from exc
    except NoCredentialsError as exc:
        raise InvalidCredentials(f"{uri}: no S3 credentials (set AWS_ACCESS_KEY_ID)") from exc
    except Exception as exc:
        client_error = _client_error(exc)
        if client_error is None:
            raise
        code = error_code(client_error)
        if code in CREDENTIAL_ERRORS:
            raise InvalidCredentials(f"{uri}: S3 refused the credentials ({code})") from exc
        if code == "NoSuchBucket":
            raise InvalidConfig(f"{uri}: bucket {uri.bucket!r} does not exist") from exc
        raise
