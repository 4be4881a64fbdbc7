"""Manifest entries: size and sha256 per file, stable order, the manifest never lists itself."""

from __future__ import annotations

import hashlib
from pathlib import Path

from finetune_trainer.manifest import MANIFEST, build_manifest, tree_digest


def test_manifest_lists_every_file(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_bytes(b"bee")
    (tmp_path / "a.bin").write_bytes(b"\x00" * 10)
    (tmp_path / MANIFEST).write_text("{}")
    files = {p.name: p for p in tmp_path.iterdir()}
    manifest = build_manifest(files, {"seed": 1}, "2026-01-01T00:00:00Z")
    assert [e["path"] for e in manifest["files"]] == ["a.bin", "b.txt"]
    assert manifest["files"][1] == {
        "path": "b.txt",
        "size": 3,
        "sha256": hashlib.sha256(b"bee").hexdigest(),
    }
    assert manifest["provenance"] == {"seed": 1}


def test_tree_digest_ignores_order() -> None:
    a = {"path": "a", "sha256": "1"}
    b = {"path": "b", "sha256": "2"}
    assert tree_digest([a, b]) == tree_digest([b, a])
    assert tree_digest([a]) != tree_digest([{"path": "a", "sha256": "3"}])
