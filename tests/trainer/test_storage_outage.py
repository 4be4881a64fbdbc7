"""S3 outages during validation: a short one is ridden out; a long one fails the job with
StorageUnavailable, a retryable exit code (not 3), distinct from bad data. The outage during
training (a checkpoint upload) is in test_train.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.support.manifests import trainer_job, write_job
from tests.support.outage import Outage

from finetune_api.pod import EXIT_STORAGE_UNAVAILABLE
from finetune_trainer.cli import main
from finetune_trainer.retry import RETRY_SECONDS_ENV

pytestmark = pytest.mark.usefixtures("aws_env")


def validate(tmp_path: Path, document: dict[str, object]) -> tuple[int, dict[str, object]]:
    code = main(["validate", "--job", str(write_job(tmp_path / "job.yaml", document))])
    return code, json.loads((tmp_path / "termination-log").read_text())


def test_short_outage_during_validation_is_ridden_out(
    inputs: dict[str, str],
    tmp_path: Path,
    s3_outage: Outage,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(RETRY_SECONDS_ENV, "180")
    s3_outage.begin(20)  # plus about 15 s until the restarted server answers
    code, report = validate(tmp_path, trainer_job(inputs))
    assert code == 0, report
    assert report["dataset"] == {
        "trainExamples": 64,
        "evalExamples": 16,
        "trainTokens": report["dataset"]["trainTokens"],  # type: ignore[index]
        "truncatedExamples": 0,
        "droppedExamples": 0,
        "format": "chat",
    }
    assert "retry 1 in" in caplog.text


def test_long_outage_fails_with_storage_unavailable(
    inputs: dict[str, str], tmp_path: Path, s3_outage: Outage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RETRY_SECONDS_ENV, "8")  # the pod's default is 300 s
    s3_outage.begin(None)
    started = time.monotonic()
    code, report = validate(tmp_path, trainer_job(inputs))
    assert (code, report["reason"]) == (EXIT_STORAGE_UNAVAILABLE, "StorageUnavailable")
    assert code != 3
    assert "retries exhausted" in str(report["message"])
    assert time.monotonic() - started < 60
