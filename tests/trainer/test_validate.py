"""``validate`` against S3: malformed data, unsafe or pickle-only models, counts of a good set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from devcluster.s3 import S3Endpoint
from tests.support.datasets import LONG_LINE, LONG_LINE_CAP, MALFORMED
from tests.support.manifests import trainer_job, write_job

from finetune_trainer.cli import main
from finetune_trainer.config import MAX_LINE_BYTES_ENV
from finetune_trainer.storage import Storage
from finetune_trainer.uris import ObjectInfo, ObjectUri

pytestmark = pytest.mark.usefixtures("aws_env")


def validate(tmp_path: Path, document: dict[str, object]) -> tuple[int, dict[str, object]]:
    code = main(["validate", "--job", str(write_job(tmp_path / "job.yaml", document))])
    return code, json.loads((tmp_path / "termination-log").read_text())


@pytest.mark.parametrize(
    ("fmt", "content", "line", "words"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_dataset_exit_3(
    *,
    s3: S3Endpoint,
    inputs: dict[str, str],
    tmp_path: Path,
    fmt: str,
    content: bytes,
    line: int,
    words: str,
) -> None:
    bucket, prefix = inputs["bucket"], inputs["prefix"]
    s3.client().put_object(Bucket=bucket, Key=f"{prefix}/data/bad.jsonl", Body=content)
    document = trainer_job(
        inputs, dataset={"train": f"s3://{bucket}/{prefix}/data/bad.jsonl", "format": fmt}
    )
    code, report = validate(tmp_path, document)
    assert code == 3
    assert report["ok"] is False and report["reason"] == "InvalidDataset"
    assert f"line {line}: " in str(report["message"]) and words in str(report["message"])


def test_over_long_line_exit_3(
    s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cap is made small so that a line "just over it" costs a kilobyte, not gigabytes.
    monkeypatch.setenv(MAX_LINE_BYTES_ENV, str(LONG_LINE_CAP))
    bucket, prefix = inputs["bucket"], inputs["prefix"]
    s3.client().put_object(Bucket=bucket, Key=f"{prefix}/data/long.jsonl", Body=LONG_LINE)
    document = trainer_job(inputs, dataset={"train": f"s3://{bucket}/{prefix}/data/long.jsonl"})
    code, report = validate(tmp_path, document)
    assert (code, report["reason"]) == (3, "InvalidDataset")
    assert f"line 2: longer than {LONG_LINE_CAP} bytes" in str(report["message"])


def test_good_dataset_counts(inputs: dict[str, str], tmp_path: Path) -> None:
    code, report = validate(tmp_path, trainer_job(inputs))
    assert code == 0, report
    dataset = report["dataset"]
    assert isinstance(dataset, dict)
    assert dataset["format"] == "chat"
    assert (dataset["trainExamples"], dataset["evalExamples"]) == (64, 16)
    assert dataset["trainTokens"] > 64 * 10
    assert dataset["truncatedExamples"] == dataset["droppedExamples"] == 0


def test_truncation_counted_and_all_masked_refused(inputs: dict[str, str], tmp_path: Path) -> None:
    # System + user turns exceed 16 tokens in every example: no assistant token survives.
    document = trainer_job(inputs, hyperparameters={"maxSeqLength": 16})
    code, report = validate(tmp_path, document)
    assert code == 3
    assert "no valid training examples" in str(report["message"])


def test_missing_dataset_refused(inputs: dict[str, str], tmp_path: Path) -> None:
    document = trainer_job(inputs, dataset={"train": inputs["train"] + ".missing"})
    code, report = validate(tmp_path, document)
    assert (code, report["reason"]) == (3, "InvalidDataset")


def test_pickle_only_model_refused(
    s3: S3Endpoint, inputs: dict[str, str], tiny_model: Path, tmp_path: Path
) -> None:
    bucket, prefix = inputs["bucket"], inputs["prefix"]
    client = s3.client()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        client.upload_file(str(tiny_model / name), bucket, f"{prefix}/pickled/{name}")
    client.put_object(
        Bucket=bucket, Key=f"{prefix}/pickled/pytorch_model.bin", Body=b"\x80\x04pickle"
    )
    document = trainer_job(inputs, baseModel={"uri": f"s3://{bucket}/{prefix}/pickled/"})
    code, report = validate(tmp_path, document)
    assert (code, report["reason"]) == (3, "InvalidModel")
    assert "pickle" in str(report["message"])


def test_dotdot_key_refused(
    inputs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SeaweedFS will not store such a key (AWS will), so the listing gets one injected."""
    real_list = Storage.list_objects

    def listing_with_escape(self: Storage, uri: ObjectUri) -> list[ObjectInfo]:
        found = real_list(self, uri)
        if uri.prefix.endswith("/base/"):
            found.append(
                ObjectInfo(uri.prefix + "sub/../../escape.json", "sub/../../escape.json", 2)
            )
        return found

    monkeypatch.setattr(Storage, "list_objects", listing_with_escape)
    code, report = validate(tmp_path, trainer_job(inputs))
    assert (code, report["reason"]) == (3, "InvalidModel")
    assert "'..'" in str(report["message"]) and "escape.json" in str(report["message"])


def test_validate_subprocess_exit_code(
    s3: S3Endpoint, inputs: dict[str, str], tmp_path: Path, aws_env: dict[str, str]
) -> None:
    bucket, prefix = inputs["bucket"], inputs["prefix"]
    s3.client().put_object(
        Bucket=bucket, Key=f"{prefix}/data/bad.jsonl", Body=b'{"messages": []}\n'
    )
    document = trainer_job(inputs, dataset={"train": f"s3://{bucket}/{prefix}/data/bad.jsonl"})
    job = write_job(tmp_path / "job.yaml", document)
    done = subprocess.run(
        [sys.executable, "-m", "finetune_trainer", "validate", "--job", str(job)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    report = json.loads(Path(aws_env["FINETUNE_TERMINATION_LOG"]).read_text())
    assert report["reason"] == "InvalidDataset"
    assert "line 1: empty example" in report["message"]


def test_unwritable_default_termination_path(
    inputs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FINETUNE_TERMINATION_LOG")
    monkeypatch.setattr("finetune_api.pod.TERMINATION_LOG", str(tmp_path / "no" / "dir"))
    document = trainer_job(inputs, dataset={"train": inputs["train"] + ".missing"})
    assert main(["validate", "--job", str(write_job(tmp_path / "job.yaml", document))]) == 3


def test_wrong_credentials_exit_3(
    inputs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    code, report = validate(tmp_path, trainer_job(inputs))
    assert (code, report["reason"]) == (3, "InvalidCredentials")
    assert "SignatureDoesNotMatch" in str(report["message"])
