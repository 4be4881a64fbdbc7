"""Checkpoints upload in the background: training goes on, one upload at a time, marker last,
errors surface at the next wait, the end of training waits for the last one."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from devcluster.s3 import S3Endpoint
from transformers import TrainerControl

from finetune_trainer.callbacks import CheckpointSync, Terminate
from finetune_trainer.checkpoints import MARKER, CheckpointStore
from finetune_trainer.storage import Storage
from finetune_trainer.uris import ObjectUri


@pytest.fixture
def output(s3: S3Endpoint, bucket: str, monkeypatch: pytest.MonkeyPatch) -> ObjectUri:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return ObjectUri.parse(f"s3://{bucket}/{uuid.uuid4().hex[:10]}/")


class GatedStore(CheckpointStore):
    """Uploads wait for ``gate``; ``fail`` makes the next upload raise."""

    def __init__(self, output: ObjectUri) -> None:
        super().__init__(Storage(), output, keep=2, run="run-1", uid="u-1")
        self.gate = threading.Event()
        self.started = threading.Event()
        self.fail = False

    def upload_files(self, local_dir: Path, step: int) -> None:
        self.started.set()
        assert self.gate.wait(60)
        if self.fail:
            raise OSError("S3 refused the upload")
        super().upload_files(local_dir, step)


def save(sync: CheckpointSync, run_dir: Path, step: int) -> None:
    """What the Trainer does: write checkpoint-<step>, delete the older one, call on_save."""
    local = run_dir / f"checkpoint-{step}"
    local.mkdir(parents=True)
    (local / "adapter_model.safetensors").write_bytes(b"w" * 100)
    (local / "optimizer.pt").write_bytes(b"o" * 200)
    for older in run_dir.glob("checkpoint-*"):
        if older != local:
            for file in older.iterdir():
                file.unlink()
            older.rmdir()
    args: Any = SimpleNamespace(output_dir=str(run_dir))
    state: Any = SimpleNamespace(global_step=step)
    sync.on_save(args, state, TrainerControl())


def end(sync: CheckpointSync) -> None:
    """The end of training (before the final publish)."""
    args: Any = SimpleNamespace()
    state: Any = SimpleNamespace()
    sync.on_train_end(args, state, TrainerControl())


def marker(store: CheckpointStore, step: int) -> dict[str, Any] | None:
    uri = store.uri(step).join(MARKER)
    if MARKER not in {o.relative for o in store.storage.list_objects(store.uri(step))}:
        return None
    loaded: dict[str, Any] = json.loads(store.storage.get_bytes(uri))
    return loaded


def test_training_goes_on_while_a_checkpoint_uploads(output: ObjectUri, tmp_path: Path) -> None:
    store = GatedStore(output)
    sync = CheckpointSync(store, Terminate(), None)
    save(sync, tmp_path / "run", 4)  # returns with the upload still held at the gate
    assert store.started.wait(60)
    assert marker(store, 4) is None, "no marker before every file is in S3"

    store.gate.set()
    save(sync, tmp_path / "run", 8)  # waits for step 4 first: one upload in flight at most
    done = marker(store, 4)
    assert done is not None
    assert {f["path"] for f in done["files"]} == {"adapter_model.safetensors", "optimizer.pt"}

    end(sync)  # the publish waits for step 8
    assert marker(store, 8) is not None
    assert not (tmp_path / "run-upload" / "checkpoint-8").exists(), "the snapshot is removed"


def test_a_failed_upload_surfaces_and_leaves_no_marker(output: ObjectUri, tmp_path: Path) -> None:
    store = GatedStore(output)
    store.fail = True
    store.gate.set()
    sync = CheckpointSync(store, Terminate(), None)
    save(sync, tmp_path / "run", 4)
    with pytest.raises(OSError, match="S3 refused the upload"):
        end(sync)
    assert marker(store, 4) is None
