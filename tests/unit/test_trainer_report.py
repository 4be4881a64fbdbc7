"""The termination message stays JSON under 4 KiB and carries no credentials (nor do logs), and
an unwritable path does not crash."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from finetune_api.pod import TERMINATION_MAX_BYTES
from finetune_api.reports import DatasetStats, ValidateSummary
from finetune_trainer.redact import RedactingFormatter
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


KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
LEAKY = [
    (
        "presigned-url",
        f"GET https://s3.example.com/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={KEY_ID}"
        "%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=abc123 failed",
    ),
    (
        "authorization-header",
        f"Authorization: AWS4-HMAC-SHA256 Credential={KEY_ID}/20250101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=0123456789abcdef",
    ),
    ("bare-key-id", f"The AWS Access Key Id {KEY_ID} does not exist"),
    ("bare-secret", f"secret was {SECRET}."),
    ("session-token", "x-amz-security-token: FwoGZXIvYXdzEJr//////////wEaDAAAAA"),
]


@pytest.mark.parametrize("message", [c[1] for c in LEAKY], ids=[c[0] for c in LEAKY])
def test_failure_message_carries_no_credentials(message: str) -> None:
    decoded = json.loads(encode(failure("Error", "ClientError: " + " | ".join([message] * 50))))
    text = decoded["message"]
    for leak in (
        KEY_ID,
        SECRET,
        "abc123",
        "0123456789abcdef",
        "FwoGZXIvYXdzEJr",
        "X-Amz-Algorithm",
    ):
        assert leak not in text
    assert "[redacted]" in text
    assert len(json.dumps(decoded).encode()) <= TERMINATION_MAX_BYTES


def test_secrets_from_the_env_are_redacted_whatever_their_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-of-odd-shape")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "admin-key")
    text = failure("Error", "signed with admin-key and s3cr3t-of-odd-shape").message
    assert text == "signed with [redacted] and [redacted]"


def test_logs_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-of-odd-shape")
    record = logging.LogRecord(
        "t", logging.ERROR, __file__, 1, "failed: %s", (f"{KEY_ID} s3cr3t-of-odd-shape",), None
    )
    assert RedactingFormatter("%(message)s").format(record) == "failed: [redacted] [redacted]"


def test_plain_messages_are_kept() -> None:
    message = "s3://bucket/data/train.jsonl: 2 bad line(s): line 3: bad JSON (x at column 4)"
    assert failure("InvalidDataset", message).message == message
