"""hf:// base models against a local stand-in of the Hub's download API (tests/support/hubserver):
what is downloaded, the commit recorded, and each failure's reason and message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.hubserver import HubServer, serve_hub

from finetune_api.reports import BaseModelRef, DatasetStats, ValidateSummary, parse_summary
from finetune_trainer import report
from finetune_trainer.errors import InvalidCredentials, InvalidModel, StorageUnavailable
from finetune_trainer.hub import HubUri
from finetune_trainer.inputs import ModelSource, fetch_model
from finetune_trainer.retry import RETRY_SECONDS_ENV
from finetune_trainer.storage import Storage

CONFIG = json.dumps({"model_type": "llama"}).encode()
MODEL_FILES = {
    "config.json": CONFIG,
    "tokenizer.json": b"{}",
    "tokenizer_config.json": b'{"model_max_length": 64}',
    "chat_template.jinja": b"{{ messages }}",
    "model.safetensors": b"weights",
    "pytorch_model.bin": b"pickled weights",
    "README.md": b"# a model",
    "onnx/model.onnx": b"onnx",
    "original/params.json": b"{}",
}


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    with serve_hub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setenv(RETRY_SECONDS_ENV, "30")
        yield server


def fetch(uri: str, dest: Path, *, weights: bool = True) -> str | None:
    return fetch_model(Storage(), uri, dest, weights=weights).revision


def test_uri_revision_defaults_to_main() -> None:
    assert HubUri.parse("hf://org/name") == HubUri("org/name", "main")
    assert HubUri.parse("hf://org/name@v1.0") == HubUri("org/name", "v1.0")


def test_downloads_config_tokenizer_and_safetensors_at_the_resolved_commit(
    hub: HubServer, tmp_path: Path
) -> None:
    repo = hub.add("org/tiny", MODEL_FILES)
    revision = fetch("hf://org/tiny", tmp_path / "model")
    assert revision == repo.commit
    wanted = {
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "model.safetensors",
    }
    assert {p.name for p in (tmp_path / "model").iterdir()} == wanted
    assert hub.downloaded() == wanted  # no pickle, no README, nothing from subfolders
    assert (tmp_path / "model" / "model.safetensors").read_bytes() == b"weights"
    # Every file is fetched at the commit, never at the branch that might move meanwhile.
    files = [p for m, p in hub.requests if "/resolve/" in p]
    assert files and all(f"/resolve/{repo.commit}/" in p for p in files)


def test_validation_fetches_no_weights(hub: HubServer, tmp_path: Path) -> None:
    hub.add("org/tiny", MODEL_FILES)
    fetch("hf://org/tiny", tmp_path / "model", weights=False)
    assert "model.safetensors" not in hub.downloaded()


def test_a_tag_and_a_commit_resolve_to_the_same_commit(hub: HubServer, tmp_path: Path) -> None:
    repo = hub.add("org/tiny", MODEL_FILES, tag="v1.0")
    assert fetch("hf://org/tiny@v1.0", tmp_path / "a") == repo.commit
    assert fetch(f"hf://org/tiny@{repo.commit}", tmp_path / "b") == repo.commit


def test_validation_reports_the_commit_a_branch_resolved_to(hub: HubServer, tmp_path: Path) -> None:
    """The validation pod's summary names the commit (``ModelSource.reported``), which the
    operator pins the training pods to; an S3 model reports none."""
    repo = hub.add("org/tiny", MODEL_FILES)
    source = fetch_model(Storage(), "hf://org/tiny@main", tmp_path / "model", weights=False)
    stats = DatasetStats(train_examples=3)
    message = report.encode(ValidateSummary(dataset=stats, base_model=source.reported()))
    assert json.loads(message)["baseModel"] == {"revision": repo.commit}
    summary = parse_summary(message)
    assert isinstance(summary, ValidateSummary)
    assert summary.base_model == BaseModelRef(revision=repo.commit)
    # Training on the pinned URI downloads that very commit.
    assert fetch(f"hf://org/tiny@{repo.commit}", tmp_path / "train") == repo.commit
    assert ModelSource("s3://models/base/").reported() is None
    assert ModelSource("hf://org/tiny@main", "sha256:0a1b").reported() is None  # unpinned
    assert "baseModel" not in json.loads(report.encode(ValidateSummary(dataset=stats)))


def test_a_revision_that_does_not_exist_is_invalid_model(hub: HubServer, tmp_path: Path) -> None:
    hub.add("org/tiny", MODEL_FILES)
    with pytest.raises(InvalidModel, match="revision 'no-such-branch' does not exist"):
        fetch("hf://org/tiny@no-such-branch", tmp_path / "model")


def test_a_missing_repo_is_invalid_model(hub: HubServer, tmp_path: Path) -> None:
    with pytest.raises(InvalidModel, match=r"org/missing does not exist, or is private"):
        fetch("hf://org/missing", tmp_path / "model")


def test_only_pickle_weights_are_refused_unread(hub: HubServer, tmp_path: Path) -> None:
    files = {k: v for k, v in MODEL_FILES.items() if k != "model.safetensors"}
    hub.add("org/pickled", files)
    with pytest.raises(InvalidModel, match=r"only pickle weights \(pytorch_model.bin\)"):
        fetch("hf://org/pickled", tmp_path / "model")
    assert not hub.downloaded()


def test_a_private_repo_needs_its_token(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = hub.add("org/private", MODEL_FILES, token="hf_right")
    with pytest.raises(InvalidModel, match=r"401.*needs spec.baseModel.hfTokenSecretRef"):
        fetch("hf://org/private", tmp_path / "none")
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(InvalidCredentials, match=r"refused the token in spec.baseModel"):
        fetch("hf://org/private", tmp_path / "wrong")
    monkeypatch.setenv("HF_TOKEN", "hf_right")
    assert fetch("hf://org/private", tmp_path / "right") == repo.commit


def test_a_model_asking_for_remote_code_is_refused(hub: HubServer, tmp_path: Path) -> None:
    config = {"model_type": "my-own-arch", "auto_map": {"AutoModelForCausalLM": "modeling.M"}}
    hub.add("org/custom", MODEL_FILES | {"config.json": json.dumps(config).encode()})
    with pytest.raises(InvalidModel, match=r"asks for the repo's own code.*trust_remote_code"):
        fetch("hf://org/custom", tmp_path / "model")


def test_an_auto_map_of_a_built_in_architecture_is_fine(hub: HubServer, tmp_path: Path) -> None:
    config = {"model_type": "llama", "auto_map": {"AutoConfig": "configuration.C"}}
    repo = hub.add("org/legacy", MODEL_FILES | {"config.json": json.dumps(config).encode()})
    assert fetch("hf://org/legacy", tmp_path / "model") == repo.commit


def test_a_hub_outage_is_retried(hub: HubServer, tmp_path: Path) -> None:
    repo = hub.add("org/tiny", MODEL_FILES)
    hub.failures = 1
    assert fetch("hf://org/tiny", tmp_path / "model") == repo.commit
    assert hub.failures == 0


def test_an_unreachable_hub_is_storage_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_hub() as gone:
        url = gone.url  # a port nothing listens on once the block ends
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv(RETRY_SECONDS_ENV, "0.1")
    with pytest.raises(StorageUnavailable, match=f"Hugging Face Hub \\({url}\\) unavailable"):
        fetch("hf://org/tiny", tmp_path / "model")
