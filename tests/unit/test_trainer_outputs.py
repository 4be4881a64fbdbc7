"""Atomic publishing (outputs.py) against an in-memory store that records every call and can
crash at any write: what is staged, what is stale, the order, and what a crash leaves."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.files import write_tree

from finetune_trainer.manifest import MANIFEST, build_manifest
from finetune_trainer.outputs import (
    Cleanup,
    cleanup_plan,
    file_uri,
    finish,
    publish_tree,
    read_manifest,
    replaced_keys,
)
from finetune_trainer.uris import ObjectInfo, ObjectUri

OUTPUT = ObjectUri.parse("s3://models/team/out/")
EARLIER = {"adapter/w.safetensors": b"old weights", "README.md": b"old card", "old-only.txt": b"x"}
NEWER = {"adapter/w.safetensors": b"new weights", "README.md": b"new card", "eval/g.jsonl": b"{}"}


class Crash(Exception):
    """The injected interruption."""


class FakeStore:
    """One bucket in memory; every write is one recorded call and may be the one that crashes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []
        self.crash_at: int | None = None
        self.writes = 0

    def _write(self, op: str, key: str) -> None:
        if self.crash_at is not None and self.writes >= self.crash_at:
            raise Crash(f"{op} {key}")
        self.writes += 1
        self.calls.append((op, key))

    def list_objects(self, uri: ObjectUri) -> list[ObjectInfo]:
        self.calls.append(("list", uri.prefix))
        return [
            ObjectInfo(k, k[len(uri.prefix) :], len(v))
            for k, v in sorted(self.objects.items())
            if k.startswith(uri.prefix)
        ]

    def exists(self, uri: ObjectUri) -> bool:
        return uri.key in self.objects

    def get_bytes(self, uri: ObjectUri) -> bytes:
        return self.objects[uri.key]

    def put_bytes(
        self, uri: ObjectUri, data: bytes, content_type: str = "application/json"
    ) -> None:
        self._write("put", uri.key)
        self.objects[uri.key] = data

    def upload_files(self, files: dict[str, Path], prefix: ObjectUri) -> None:
        for key, path in files.items():
            self._write("upload", prefix.join(key).key)
            self.objects[prefix.join(key).key] = path.read_bytes()

    def copy_objects(self, pairs: list[tuple[ObjectUri, ObjectUri]]) -> None:
        for source, dest in pairs:
            self._write("copy", dest.key)
            self.objects[dest.key] = self.objects[source.key]

    def delete(self, uris: list[ObjectUri]) -> None:
        for uri in uris:
            self._write("delete", uri.key)
            self.objects.pop(uri.key, None)

    def relative_keys(self) -> set[str]:
        return {k[len(OUTPUT.prefix) :] for k in self.objects}


def publish(store: FakeStore, root: Path, contents: dict[str, bytes], attempt: str) -> None:
    files = write_tree(root / attempt, contents)
    manifest = build_manifest(files, {"run": attempt}, "2026-01-01T00:00:00Z")
    publish_tree(store, OUTPUT, files, manifest, attempt)


def read_by_manifest(store: FakeStore) -> dict[str, bytes] | None:
    """What a reader gets by the manifest: every listed file, checked against its sha256."""
    manifest = read_manifest(store, OUTPUT)
    if manifest is None:
        return None
    out = {}
    for entry in manifest["files"]:
        data = store.get_bytes(file_uri(OUTPUT, manifest, entry["path"]))
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
        out[entry["path"]] = data
    return out


@pytest.fixture
def earlier(tmp_path: Path) -> FakeStore:
    """An output with a complete earlier publish, a checkpoint, and a file no publish wrote."""
    store = FakeStore()
    publish(store, tmp_path, EARLIER, "a")
    store.objects[OUTPUT.prefix + "checkpoints/step-000004/_COMPLETE.json"] = b"{}"
    store.objects[OUTPUT.prefix + "notes-by-a-person.txt"] = b"mine"
    store.calls.clear()
    store.writes = 0
    return store


@pytest.mark.parametrize(
    ("earlier_manifest", "existing", "expected"),
    [
        (None, {"a", "b"}, []),
        ({"files": [{"path": "a"}, {"path": "b"}]}, {"a", "b"}, ["b"]),
        # written by the earlier publish but already gone: nothing to record
        ({"files": [{"path": "a"}, {"path": "b"}]}, {"a"}, []),
        # what the earlier output had itself replaced is still owned
        ({"files": [{"path": "a"}], "replaced": ["c"]}, {"a", "c"}, ["c"]),
        # never the manifest, checkpoints or staging, whatever an earlier manifest says
        ({"files": [{"path": "checkpoints/x"}, {"path": MANIFEST}]}, {"checkpoints/x"}, []),
        # nor TensorBoard's event files, written in place while training runs
        ({"files": [{"path": "tensorboard/e"}]}, {"tensorboard/e"}, []),
    ],
)
def test_replaced_keys(
    earlier_manifest: dict[str, Any] | None, existing: set[str], expected: list[str]
) -> None:
    assert replaced_keys(earlier_manifest, {"a"}, existing) == expected


def test_cleanup_deletes_staging_and_replaced_and_names_foreign_files() -> None:
    existing = {
        MANIFEST,
        "a",
        "b",
        "c",
        ".staging/x/a",
        ".staging/y/b",
        "checkpoints/step-000004/_COMPLETE.json",
        "tensorboard/events.out.tfevents.1.host",
    }
    manifest = {"files": [{"path": "a"}], "replaced": ["b", "gone"]}
    assert cleanup_plan(existing, manifest) == Cleanup(
        delete=(".staging/x/a", ".staging/y/b", "b"), foreign=("c",)
    )


def test_order_stage_commit_promote_manifest_clean(earlier: FakeStore, tmp_path: Path) -> None:
    publish(earlier, tmp_path, NEWER, "b")
    writes = [(op, key[len(OUTPUT.prefix) :]) for op, key in earlier.calls if op != "list"]
    staged = {(op, key) for op, key in writes[:3]}
    assert staged == {("upload", f".staging/b/{k}") for k in NEWER}
    assert writes[3] == ("put", MANIFEST)  # the commit: nothing in place was touched before it
    assert set(writes[4:7]) == {("copy", k) for k in NEWER}
    assert writes[7] == ("put", MANIFEST)
    assert sorted(writes[8:]) == [("delete", f".staging/b/{k}") for k in sorted(NEWER)] + [
        ("delete", "old-only.txt")
    ]


def test_published_output_is_in_place_and_earlier_files_are_gone(
    earlier: FakeStore, tmp_path: Path
) -> None:
    publish(earlier, tmp_path, NEWER, "b")
    manifest = read_manifest(earlier, OUTPUT)
    assert manifest is not None
    assert manifest["root"] == "" and manifest["replaced"] == ["old-only.txt"]
    assert read_by_manifest(earlier) == NEWER
    assert earlier.relative_keys() == set(NEWER) | {
        MANIFEST,
        "checkpoints/step-000004/_COMPLETE.json",
        "notes-by-a-person.txt",
    }


def total_writes(tmp_path: Path) -> int:
    store = FakeStore()
    publish(store, tmp_path / "count", EARLIER, "a")
    store.writes = 0
    publish(store, tmp_path / "count", NEWER, "b")
    return store.writes


def test_a_crash_at_any_write_leaves_one_complete_output(
    earlier: FakeStore, tmp_path: Path
) -> None:
    """Crash the second publish at each write in turn: a reader going by the manifest sees the
    earlier output until the commit and the new one from then on, never a mix; a retry (the
    same run finishing, or a new attempt publishing again) ends in the clean final state."""
    snapshot = dict(earlier.objects)
    n = total_writes(tmp_path)
    assert n == 3 + 1 + 3 + 1 + 4
    for crash_at in range(n + 1):
        store = FakeStore()
        store.objects = dict(snapshot)
        store.crash_at = crash_at
        with contextlib.suppress(Crash):
            publish(store, tmp_path / str(crash_at), NEWER, "b")
        assert read_by_manifest(store) == (EARLIER if crash_at <= 3 else NEWER), crash_at
        store.crash_at = None
        manifest = read_manifest(store, OUTPUT)
        assert manifest is not None
        if manifest["provenance"]["run"] == "b":
            finish(store, OUTPUT, manifest)  # the same run's retry
        else:
            publish(store, tmp_path / f"{crash_at}-again", NEWER, "c")
        assert read_by_manifest(store) == NEWER
        assert not any(k.startswith(".staging/") for k in store.relative_keys())
        assert "old-only.txt" not in store.relative_keys()
        assert "notes-by-a-person.txt" in store.relative_keys()


def test_a_publish_after_a_crash_mid_promotion_removes_both_earlier_outputs(
    earlier: FakeStore, tmp_path: Path
) -> None:
    """Run b commits and dies mid-promotion; run c (another identity) then publishes: b's
    partly promoted files and a's files that neither later run lists are both replaced."""
    earlier.crash_at = 8  # 4 uploads, the commit, 3 of 4 copies (b-only.txt among them)
    with pytest.raises(Crash):
        publish(earlier, tmp_path, NEWER | {"b-only.txt": b"b"}, "b")
    assert "b-only.txt" in earlier.relative_keys()
    earlier.crash_at = None
    publish(earlier, tmp_path, {"README.md": b"c card"}, "c")
    assert read_by_manifest(earlier) == {"README.md": b"c card"}
    assert earlier.relative_keys() == {
        MANIFEST,
        "README.md",
        "checkpoints/step-000004/_COMPLETE.json",
        "notes-by-a-person.txt",
    }


def test_manifest_schema(tmp_path: Path) -> None:
    store = FakeStore()
    publish(store, tmp_path, NEWER, "b")
    manifest = json.loads(store.objects[OUTPUT.prefix + MANIFEST])
    assert manifest["schemaVersion"] == 2 and manifest["root"] == ""
    assert [e["path"] for e in manifest["files"]] == sorted(NEWER)
