"""Base models from the Hugging Face Hub: ``hf://org/name`` or ``hf://org/name@revision``.

The revision (a branch, a tag or a commit sha; ``main`` when omitted) is resolved to its commit
once, and every file is then downloaded at that commit, so one run never mixes two commits; the
commit goes into the provenance. The file list is the repo's top level, chosen by the same rules
as an S3 model (``inputs.select_model_files``: config, tokenizer and *.safetensors files, pickle
weights refused). The endpoint (``HF_ENDPOINT``) and token (``HF_TOKEN``) are read from the
environment at call time, not when huggingface_hub is imported, and no token stored on the
machine is ever sent. Files land in the hub cache (``$HF_HOME/hub``, under the pod's scratch
dir) and are hard-linked into the model dir.

Failures follow the S3 taxonomy (``storage.py``): a missing repo or revision is InvalidModel, a
refused or missing token InvalidCredentials (both permanent, exit 3); a Hub that is down,
unreachable or throttling (5xx, 429, connection errors) is retried for the storage retry budget
(``retry.py``), then StorageUnavailable. The Hub's own error text is not copied into messages.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx2
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from finetune_api.pod import Env
from finetune_trainer.errors import (
    InvalidConfig,
    InvalidCredentials,
    InvalidModel,
    StorageUnavailable,
)
from finetune_trainer.retry import RetriesExhausted, RetryPolicy, Verdict, call_with_retries

SCHEME = "hf://"
DEFAULT_REVISION = "main"
DEFAULT_ENDPOINT = "https://huggingface.co"
T = TypeVar("T")


@dataclass(frozen=True)
class HubUri:
    repo_id: str
    revision: str = DEFAULT_REVISION

    @classmethod
    def parse(cls, uri: str) -> HubUri:
        """The repo and revision of ``hf://org/name[@revision]`` (the spec's pattern has
        already refused anything else; this refuses what would still not be a repo id)."""
        if not uri.startswith(SCHEME):
            raise InvalidConfig(f"not an hf:// URI: {uri!r}")
        repo_id, _, revision = uri[len(SCHEME) :].partition("@")
        if repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise InvalidConfig(f"baseModel {uri}: expected hf://org/name[@revision]")
        return cls(repo_id, revision or DEFAULT_REVISION)

    def __str__(self) -> str:
        return f"{SCHEME}{self.repo_id}@{self.revision}"


def classify(exc: Exception) -> Verdict:
    """Whether a failed Hub call is worth another attempt (retry.py)."""
    seen: BaseException | None = exc
    while seen is not None:  # hf_hub_download wraps a failed HEAD in LocalEntryNotFoundError
        if isinstance(seen, HfHubHTTPError):
            status = seen.response.status_code if seen.response is not None else 0
            return Verdict.TRANSIENT if status >= 500 or status == 429 else Verdict.FINAL
        if isinstance(seen, (httpx2.TransportError, httpx2.TimeoutException)):
            return Verdict.TRANSIENT  # refused, reset, timed out, cut off mid-transfer
        seen = seen.__cause__ or seen.__context__
    return Verdict.FINAL


def _status(exc: HfHubHTTPError) -> int:
    return exc.response.status_code if exc.response is not None else 0


@contextmanager
def _mapped_errors(uri: HubUri, endpoint: str, token: bool) -> Iterator[None]:
    """The Hub's errors as the trainer's taxonomy, each naming the field to fix."""
    try:
        yield
    except RetriesExhausted as exc:
        raise StorageUnavailable(
            f"baseModel {uri}: the Hugging Face Hub ({endpoint}) unavailable for "
            f"{exc.elapsed_s:.0f} s, retries exhausted ({type(exc.last).__name__})"
        ) from exc
    except RevisionNotFoundError as exc:
        raise InvalidModel(
            f"baseModel {uri}: revision {uri.revision!r} does not exist in {uri.repo_id} "
            "(a branch, tag or commit sha)"
        ) from exc
    except GatedRepoError as exc:
        raise InvalidCredentials(
            f"baseModel {uri}: {uri.repo_id} is gated; accept its conditions on the Hub with the "
            "account of the token in spec.baseModel.hfTokenSecretRef"
        ) from exc
    except RepositoryNotFoundError as exc:
        # Without a token the Hub answers 401 for a private repo and a missing one alike.
        if _status(exc) == 401 and not token:
            raise InvalidModel(
                f"baseModel {uri}: the Hub refused access without a token (401): {uri.repo_id} "
                "does not exist, or is private and needs spec.baseModel.hfTokenSecretRef"
            ) from exc
        raise InvalidModel(
            f"baseModel {uri}: repository {uri.repo_id} not found on {endpoint}, or the token "
            "in spec.baseModel.hfTokenSecretRef has no access to it"
        ) from exc
    except RemoteEntryNotFoundError as exc:
        raise InvalidModel(
            f"baseModel {uri}: a file the repo lists is missing at that revision"
        ) from exc
    except HfHubHTTPError as exc:
        status = _status(exc)
        if status in (401, 403):
            raise InvalidCredentials(
                f"baseModel {uri}: the Hub refused the token in spec.baseModel.hfTokenSecretRef "
                f"({status})"
            ) from exc
        raise InvalidModel(f"baseModel {uri}: the Hub answered {status}") from exc


@dataclass(frozen=True)
class Snapshot:
    """A repo at one commit: the files it has at its top level."""

    commit: str
    files: tuple[str, ...]


class Hub:
    """The Hub calls the trainer needs, each retried per ``policy``."""

    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.endpoint = os.environ.get(Env.HF_ENDPOINT) or DEFAULT_ENDPOINT
        # False, not None: huggingface_hub would otherwise send a token stored on the machine.
        self.token: str | bool = os.environ.get(Env.HF_TOKEN) or False
        home = os.environ.get("HF_HOME")
        self.cache_dir = Path(home) / "hub" if home else None
        self.api = HfApi(endpoint=self.endpoint, token=self.token)
        self.policy = policy or RetryPolicy.from_env(os.environ)

    def _call(self, what: str, uri: HubUri, operation: Callable[[], T]) -> T:
        with _mapped_errors(uri, self.endpoint, bool(self.token)):
            return call_with_retries(
                operation, what=f"{what} {uri}", classify=classify, policy=self.policy
            )

    def resolve(self, uri: HubUri) -> Snapshot:
        """The commit the revision names now, and the files at the repo's top level (models
        often keep other formats in subfolders: onnx/, original/, gguf/; the root is the
        Hugging Face layout from_pretrained reads)."""
        info = self._call(
            "resolve", uri, lambda: self.api.model_info(uri.repo_id, revision=uri.revision)
        )
        if not info.sha:
            raise InvalidModel(f"baseModel {uri}: the Hub named no commit for this revision")
        names = tuple(s.rfilename for s in info.siblings or () if "/" not in s.rfilename)
        return Snapshot(info.sha, names)

    def download(self, uri: HubUri, commit: str, name: str, dest: Path) -> Path:
        """One file of the repo at ``commit``, linked (or copied) to ``dest``."""

        def fetch() -> str:
            return hf_hub_download(
                uri.repo_id,
                name,
                revision=commit,
                cache_dir=self.cache_dir,
                endpoint=self.endpoint,
                token=self.token,
            )

        cached = Path(self._call("download", uri, fetch)).resolve()
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        try:
            os.link(cached, dest)  # the cache and the model dir share the scratch volume
        except OSError:
            shutil.copyfile(cached, dest)
        return dest
