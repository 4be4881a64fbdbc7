"""Files on disk for tests."""

from __future__ import annotations

from pathlib import Path


def write_tree(root: Path, contents: dict[str, bytes]) -> dict[str, Path]:
    """Write each ``key`` ("a/b.txt", slash-separated) under ``root``; returns key -> path."""
    files = {}
    for key, data in contents.items():
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[key] = path
    return files
