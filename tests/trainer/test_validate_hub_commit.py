"""``validate`` on an hf:// base model names, in its summary, the commit the branch resolved to:
the operator pins the training pods to it. Needs no S3: the dataset is a local file, as in
``kubectl finetune run --local``."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.hubserver import serve_hub
from tests.support.manifests import trainer_job
from tests.trainer.tiny import chat_examples, write_jsonl

from finetune_api.jobspec import parse_job
from finetune_api.reports import BaseModelRef
from finetune_trainer import validate


def test_validate_reports_the_commit_of_an_hf_model(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINETUNE_SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    data = {
        name: f"file://{write_jsonl(tmp_path / f'{name}.jsonl', chat_examples(n, seed))}"
        for name, n, seed in (("train", 16, 1), ("eval", 4, 2))
    }
    with serve_hub() as hub:
        repo = hub.add_dir("test-org/tiny-llama", tiny_model)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        inputs = data | {
            "model": "hf://test-org/tiny-llama@main",
            "output": f"file://{tmp_path}/o/",
        }
        summary = validate.run(parse_job(trainer_job(inputs), local=True))
    assert summary.base_model == BaseModelRef(revision=repo.commit)
    assert summary.dataset.train_examples == 16
    assert "model.safetensors" not in hub.downloaded()  # validation reads no weights
