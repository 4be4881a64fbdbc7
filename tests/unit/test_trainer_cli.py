"""The trainer's ``--job`` file: a document from a newer operator (fields this trainer does not
know) is read without them, and the log names them; anything else wrong is InvalidConfig."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from tests.support.manifests import finetunejob

from finetune_trainer import cli
from finetune_trainer.errors import InvalidConfig


def test_a_newer_job_document_is_read_and_what_was_ignored_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(finetunejob(resources={"numNodes": 2, "topologyHint": "rack"})))
    with caplog.at_level(logging.WARNING, logger="finetune_trainer"):
        job = cli._load(str(path))
    assert job.spec.resources.num_nodes == 2
    assert "spec.resources.topologyHint" in caplog.text


def test_a_bad_value_beside_an_unknown_field_is_still_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(finetunejob(resources={"numNodes": 0, "topologyHint": "x"})))
    with pytest.raises(InvalidConfig, match="numNodes"):
        cli._load(str(path))
