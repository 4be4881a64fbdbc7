"""``kubectl finetune run --local``: the tiny model trained from local folders, no cluster and
no S3, by the trainer's own code; the output is published to a local folder as it would be to
S3 (manifest last). Run as a user runs it: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.support.manifests import finetunejob
from tests.trainer.tiny import chat_examples, write_jsonl

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_run_local_trains_from_and_publishes_to_local_paths(
    tiny_model: Path, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "train.jsonl", chat_examples(32, 1))
    write_jsonl(tmp_path / "data" / "eval.jsonl", chat_examples(8, 2))
    manifest = tmp_path / "job.yaml"
    document = finetunejob(
        "local-tiny",
        None,
        baseModel={"uri": str(tiny_model)},  # absolute plain path
        dataset={"train": "data/train.jsonl", "eval": "data/eval.jsonl"},  # relative
        method={"type": "lora", "lora": {"r": 8, "alpha": 16, "dropout": 0.0}},
        hyperparameters={"epochs": 1, "learningRate": 5.0e-3, "batchSize": 8,
                         "maxSeqLength": 64, "warmupRatio": 0.0},
        evaluation={"maxNewTokens": 8},
        output={"uri": "out"},
    )  # fmt: skip
    manifest.write_text(yaml.safe_dump(document))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("api", "trainer-image", "cli")),
        "TORCH_EXTENSIONS_DIR": os.environ.get(
            "TORCH_EXTENSIONS_DIR",
            str(Path.home() / ".cache" / "finetune-operator" / "torch_extensions"),
        ),
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        env.pop(name, None)  # no S3 at all
    run = subprocess.run(
        [sys.executable, "-m", "finetune_cli", "run", "--local", str(manifest),
         "--scratch", str(tmp_path / "scratch")],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Answer accuracy" in run.stdout and "Eval loss" in run.stdout
    assert f"output: file://{tmp_path}/out/" in run.stdout
    published = json.loads((tmp_path / "out" / "manifest.json").read_text())
    paths = {entry["path"] for entry in published["files"]}
    assert {"adapter/adapter_model.safetensors", "metrics.json", "loss.png"} <= paths
    assert published["provenance"]["dataset"]["train"]["uri"] == (
        f"file://{tmp_path}/data/train.jsonl"
    )
