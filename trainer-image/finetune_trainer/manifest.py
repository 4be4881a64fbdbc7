"""The output manifest: every published file with its size and sha256, plus provenance.

``manifest.json`` is the commit point: readers trust only the files it lists, below its ``root``
(``outputs.py`` publishes the files first, staged, and switches the manifest last). Checkpoints
use the same idea with their own marker (``checkpoints.py``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
SCHEMA_VERSION = 2
CHUNK = 2**20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entries(files: dict[str, Path]) -> list[dict[str, Any]]:
    """[{path, size, sha256}] in key order; the manifest itself is never listed."""
    return [
        {"path": key, "size": path.stat().st_size, "sha256": sha256_file(path)}
        for key, path in sorted(files.items())
        if key != MANIFEST
    ]


def tree_digest(entries: list[dict[str, Any]]) -> str:
    """One digest for a set of files (a model, a dataset): sha256 over 'path sha256' lines."""
    lines = "".join(
        f"{e['path']} {e['sha256']}\n" for e in sorted(entries, key=lambda e: e["path"])
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def build_manifest(
    files: dict[str, Path], provenance: dict[str, Any], created_at: str
) -> dict[str, Any]:
    """Schema 2 added ``root`` (where the listed files are, relative to the output; ``""`` once
    published in place) and ``replaced`` (keys of earlier outputs this one supersedes)."""
    entries = file_entries(files)
    return {
        "schemaVersion": SCHEMA_VERSION,
        "root": "",
        "createdAt": created_at,
        "files": entries,
        "provenance": provenance,
    }
