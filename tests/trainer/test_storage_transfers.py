"""Many-file transfers share one s3transfer manager and its request limit (real S3)."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from s3transfer.manager import TransferManager
from tests.support.files import write_tree

from finetune_trainer.storage import PARALLEL_REQUESTS, Storage, files_under
from finetune_trainer.uris import ObjectUri

pytestmark = pytest.mark.usefixtures("aws_env")

CONTENTS = {f"dir{i % 3}/file-{i:02d}.bin": bytes([i]) * (1000 + i) for i in range(40)}


def test_a_directory_round_trip_uses_one_manager(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    managers: list[TransferManager] = []
    original = TransferManager.__init__

    def counted(self: TransferManager, *args: Any, **kwargs: Any) -> None:
        managers.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(TransferManager, "__init__", counted)
    storage = Storage()
    prefix = ObjectUri(bucket, f"{uuid.uuid4().hex[:10]}/tree/")
    storage.upload_files(write_tree(tmp_path / "up", CONTENTS), prefix)
    storage.download_prefix(prefix, tmp_path / "down")
    storage.copy_objects([(prefix.join(key), prefix.join("copy", key)) for key in CONTENTS])

    assert len(managers) == 1, "one manager per Storage, not one per file"
    downloaded = files_under(tmp_path / "down")
    assert {key: path.read_bytes() for key, path in downloaded.items() if "copy" not in key} == (
        CONTENTS
    )
    assert len(storage.list_objects(prefix.join("copy"))) == len(CONTENTS)


def test_requests_in_flight_stay_under_the_shared_limit(bucket: str, tmp_path: Path) -> None:
    storage = Storage()
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def counting(request: Any, **_: Any) -> None:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)

    def done(**_: Any) -> None:
        nonlocal in_flight
        with lock:
            in_flight -= 1

    storage.client.meta.events.register("before-send.s3.PutObject", counting)
    storage.client.meta.events.register("after-call.s3.PutObject", done)
    many = {f"f-{i:03d}": b"x" * 100 for i in range(4 * PARALLEL_REQUESTS)}
    storage.upload_files(write_tree(tmp_path, many), ObjectUri(bucket, f"{uuid.uuid4().hex[:10]}/"))
    assert 0 < peak <= PARALLEL_REQUESTS
