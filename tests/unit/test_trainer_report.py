"""The termination message stays JSON under 4 KiB, and an unwritable path does not crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_api.pod import TERMINATION_MAX_BYTES
from finetune_api.reports import DatasetStats, ValidateSummary
from finetune_trainer.report import encode, failure, write_termination


def test_long_message_is_shortened_not_broken() -> None:
    data = encode(failure("InvalidDataset", "line 1: bad JSON; " * 1000))
    assert len(data) <= TERMINATION_MAX_BYTES
    decoded = json.loads(data)
    assert decoded["reason"] == "InvalidDataset"
    assert decoded["message"].startswith("line 1: bad JSON")


def test_writes_to_env_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "term"
    monkeypatch.setenv("FINETUNE_TERMINATION_LOG", str(target))
    write_termination(ValidateSummary(dataset=DatasetStats(train_examples=3)))
    assert json.loads(target.read_text()) == {
        "ok": True,
        "kind": "validate",
        "dataset": {"trainExamples": 3},
    }


def test_unwritable_path_only_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FINETUNE_TERMINATION_LOG", str(tmp_path / "missing" / "term"))
    write_termination(failure("Error", "boom"))
    assert "cannot write termination message" in caplog.text
