"""Publishing a local output tree to ``<output.uri>`` atomically: staged, committed, promoted.

S3 cannot rename a prefix, so a new output cannot replace an earlier one in one step. The one
atomic step is a PUT of ``manifest.json``, and readers trust only what it lists, below its
``root`` (a prefix relative to the output, ``""`` for the output itself):

1. stage: upload every file to ``.staging/<attempt>/``; the earlier output is not touched;
2. commit: put a manifest whose ``root`` is that staging prefix (this replaces the earlier one);
3. promote: copy each staged file into place, server-side;
4. put the final manifest, ``root: ""``: the layout users read (docs/user-guide.md);
5. clean up: delete ``.staging/`` and the files of earlier outputs this one does not list.

A crash in 1 leaves the earlier manifest vouching for the earlier files, intact, plus staging
leftovers that the next publish deletes. From 2 to 4 the manifest vouches for the complete staged
copy while the files in place may be a mix; from 4 on, for the files in place. A retry of the
same run finishes 3 to 5 from the manifest (``finish``). Each manifest records in ``replaced``
the keys in place that earlier outputs wrote and it does not list, so a crash before the cleanup
loses no record of them. Files no publish wrote (no manifest ever listed them) are only named in
the log, never deleted: the output prefix may be shared. ``checkpoints/`` and ``tensorboard/``
are never touched.
Two publishers writing one output at once are not supported: the last manifest wins.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from finetune_trainer.checkpoints import PREFIX as CHECKPOINTS
from finetune_trainer.manifest import MANIFEST
from finetune_trainer.uris import ObjectInfo, ObjectUri

TENSORBOARD_PREFIX = "tensorboard"
"""Below the output: TensorBoard's event files (``tracking``), written in place."""
STAGING = ".staging"
"""Below the output: one prefix per publish attempt, deleted after a publish completes."""
REPORTED = 10
"""How many unlisted foreign keys the log names (then a count)."""

log = logging.getLogger(__name__)


class ObjectStore(Protocol):
    """The storage calls publishing makes (``storage.Storage``; a recording fake in tests)."""

    def list_objects(self, uri: ObjectUri) -> list[ObjectInfo]: ...
    def exists(self, uri: ObjectUri) -> bool: ...
    def get_bytes(self, uri: ObjectUri) -> bytes: ...
    def put_bytes(self, uri: ObjectUri, data: bytes, content_type: str = ...) -> None: ...
    def upload_files(self, files: dict[str, Path], prefix: ObjectUri) -> None: ...
    def copy_objects(self, pairs: list[tuple[ObjectUri, ObjectUri]]) -> None: ...
    def delete(self, uris: list[ObjectUri]) -> None: ...


def new_attempt() -> str:
    """A staging name of its own per publish attempt: a retry never writes where a committed
    manifest may point."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"


def staging_root(attempt: str) -> str:
    return f"{STAGING}/{attempt}/"


def listed(manifest: dict[str, Any]) -> set[str]:
    return {str(e["path"]) for e in manifest.get("files", [])}


def is_reserved(key: str) -> bool:
    """Keys publishing never lists, replaces or reports: the manifest, checkpoints, staging,
    TensorBoard's event files (written in place while training runs)."""
    return key == MANIFEST or key.startswith(
        (f"{CHECKPOINTS}/", f"{STAGING}/", f"{TENSORBOARD_PREFIX}/")
    )


def replaced_keys(
    earlier: dict[str, Any] | None, new_files: set[str], existing: set[str]
) -> list[str]:
    """Keys in place that an earlier publish wrote and the new output does not list.

    An earlier publish may have written in place every file its manifest lists (at any root:
    its promotion may have been cut short) and still owns what it had itself replaced.
    """
    if earlier is None:
        return []
    owned = listed(earlier) | {str(k) for k in earlier.get("replaced", [])}
    return sorted(k for k in owned & existing if k not in new_files and not is_reserved(k))


@dataclass(frozen=True)
class Cleanup:
    """After the final manifest: what to delete, and what to name in the log only."""

    delete: tuple[str, ...]
    foreign: tuple[str, ...]


def cleanup_plan(existing: set[str], manifest: dict[str, Any]) -> Cleanup:
    """Staging leftovers and replaced files go; unlisted files no publish wrote stay."""
    files = listed(manifest)
    replaced = {str(k) for k in manifest.get("replaced", [])}
    delete = sorted(
        k for k in existing if k.startswith(f"{STAGING}/") or (k in replaced and k not in files)
    )
    foreign = sorted(k for k in existing - files - replaced if not is_reserved(k))
    return Cleanup(tuple(delete), tuple(foreign))


def read_manifest(storage: ObjectStore, output: ObjectUri) -> dict[str, Any] | None:
    """The output's manifest, or None if there is none or it is not a JSON object."""
    uri = output.join(MANIFEST)
    if not storage.exists(uri):
        return None
    try:
        manifest = json.loads(storage.get_bytes(uri))
    except ValueError:
        log.warning("%s is not JSON; treated as absent", uri)
        return None
    return manifest if isinstance(manifest, dict) else None


def file_uri(output: ObjectUri, manifest: dict[str, Any], path: str) -> ObjectUri:
    """Where a file the manifest lists is: below the manifest's ``root``."""
    return output.join(str(manifest.get("root", "")) + path)


def publish_tree(
    storage: ObjectStore,
    output: ObjectUri,
    tree: dict[str, Path],
    manifest: dict[str, Any],
    attempt: str,
) -> None:
    """Publish tree ({relative key: local file}) with manifest (its ``files`` list the tree);
    an earlier complete output stays readable through its manifest until the commit."""
    existing = {o.relative for o in storage.list_objects(output)}
    earlier = read_manifest(storage, output)
    root = staging_root(attempt)
    storage.upload_files(tree, output.join(root))
    committed = manifest | {
        "root": root,
        "replaced": replaced_keys(earlier, set(tree), existing),
    }
    put_manifest(storage, output, committed)
    log.info("committed %d files staged under %s", len(tree), output.join(root))
    finish(storage, output, committed)


def finish(storage: ObjectStore, output: ObjectUri, manifest: dict[str, Any]) -> dict[str, Any]:
    """Promote a committed output into place (if staged) and clean up; returns the final
    manifest. Idempotent, so a retry may run it again after a crash at any point."""
    root = str(manifest.get("root", ""))
    if root:
        paths = sorted(listed(manifest))
        storage.copy_objects([(output.join(root + p), output.join(p)) for p in paths])
        manifest = manifest | {"root": ""}
        put_manifest(storage, output, manifest)
        log.info("published %d files to %s; manifest written last", len(paths), output)
    clean_up(storage, output, manifest)
    return manifest


def clean_up(storage: ObjectStore, output: ObjectUri, manifest: dict[str, Any]) -> None:
    existing = {o.relative for o in storage.list_objects(output)}
    plan = cleanup_plan(existing, manifest)
    storage.delete([output.join(k) for k in plan.delete])
    if plan.delete:
        log.info("deleted %d stale or staged objects below %s", len(plan.delete), output)
    if plan.foreign:
        named = ", ".join(plan.foreign[:REPORTED])
        more = f" and {len(plan.foreign) - REPORTED} more" if len(plan.foreign) > REPORTED else ""
        log.warning(
            "%s holds %d objects no manifest lists, left alone: %s%s",
            output,
            len(plan.foreign),
            named,
            more,
        )


def put_manifest(storage: ObjectStore, output: ObjectUri, manifest: dict[str, Any]) -> None:
    storage.put_bytes(output.join(MANIFEST), json.dumps(manifest, indent=1).encode())
