"""Checkpoints in S3: uploaded file by file, complete only once the marker is written last.

Layout: ``<output>/checkpoints/step-000200/<files of the HF checkpoint dir>`` plus
``_COMPLETE.json`` listing every object with its size. A restarted attempt resumes from the newest
step with a marker; a step without one (an upload cut short) is ignored and later deleted.

Checkpoints hold pickles, which run code when loaded: only a marker naming this job's uid and
run identity makes a checkpoint resumable, and pruning deletes only checkpoints whose marker
names them too. Write access to the output prefix is still trust (docs/trainer.md).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune_trainer.storage import Storage, files_under
from finetune_trainer.uris import ObjectUri

PREFIX = "checkpoints"
MARKER = "_COMPLETE.json"
_STEP_DIR = re.compile(r"^step-(\d+)/")

log = logging.getLogger(__name__)


def step_dir(step: int) -> str:
    return f"step-{step:06d}"


@dataclass(frozen=True)
class Inventory:
    """What the checkpoint prefix holds: steps with a marker, and steps without one."""

    complete: tuple[int, ...]
    incomplete: tuple[int, ...]

    @property
    def newest(self) -> int | None:
        return max(self.complete) if self.complete else None


def inventory(relative_keys: list[str]) -> Inventory:
    """Classify keys below checkpoints/ (e.g. 'step-000200/_COMPLETE.json') into steps."""
    steps: dict[int, bool] = {}
    for key in relative_keys:
        match = _STEP_DIR.match(key)
        if not match:
            continue
        step = int(match.group(1))
        steps[step] = steps.get(step, False) or key == f"{step_dir(step)}/{MARKER}"
    return Inventory(
        complete=tuple(sorted(s for s, done in steps.items() if done)),
        incomplete=tuple(sorted(s for s, done in steps.items() if not done)),
    )


def to_prune(inv: Inventory, keep: int) -> list[int]:
    """Steps to delete: complete ones beyond the newest `keep`, and leftovers older than the newest.

    An incomplete step newer than the newest complete one may still be uploading; it is kept.
    """
    old_complete = list(inv.complete[:-keep]) if len(inv.complete) > keep else []
    newest = inv.newest
    stale = [s for s in inv.incomplete if newest is not None and s < newest]
    return sorted(old_complete + stale)


class CheckpointStore:
    """Upload, list, download and prune checkpoints below ``<output>/checkpoints/``."""

    def __init__(
        self, storage: Storage, output: ObjectUri, keep: int, run: str, uid: str | None
    ) -> None:
        self.storage = storage
        self.root = output.join(PREFIX)
        self.keep = keep
        self.run = run
        """Identity of the training run (a digest of the resolved job's trajectory fields)."""
        self.uid = uid
        """The FineTuneJob's uid: a job deleted and re-created under the same name and output
        has another one, so it never resumes (or prunes) the earlier job's checkpoints."""

    def is_own(self, step: int) -> bool:
        """Whether a complete checkpoint's marker names this job's uid and run identity."""
        marker = json.loads(self.storage.get_bytes(self.uri(step).join(MARKER)))
        own: bool = marker.get("run") == self.run and marker.get("uid") == self.uid
        if not own:
            log.warning(
                "checkpoint: %s was written by another job (uid %s, run %s; this is uid %s, "
                "run %s); left alone", self.uri(step), marker.get("uid"), marker.get("run"),
                self.uid, self.run,
            )  # fmt: skip
        return own

    def newest_resumable(self) -> int | None:
        """The newest complete checkpoint that this job's run wrote, if any."""
        return next(
            (s for s in sorted(self.inventory().complete, reverse=True) if self.is_own(s)), None
        )

    def uri(self, step: int) -> ObjectUri:
        return self.root.join(step_dir(step))

    def inventory(self) -> Inventory:
        return inventory([o.relative for o in self.storage.list_objects(self.root)])

    def upload_files(self, local_dir: Path, step: int) -> None:
        """Upload this node's files of a checkpoint (every node calls this; no marker yet)."""
        files = files_under(local_dir)
        self.storage.upload_files(files, self.uri(step))

    def mark_complete(self, step: int, extra: dict[str, Any]) -> ObjectUri:
        """Write the marker last, listing every object now present; then prune old steps."""
        prefix = self.uri(step)
        objects = [
            {"path": o.relative, "size": o.size}
            for o in self.storage.list_objects(prefix)
            if o.relative != MARKER
        ]
        marker = {"step": step, "run": self.run, "uid": self.uid, "files": objects, **extra}
        self.storage.put_bytes(prefix.join(MARKER), json.dumps(marker, indent=1).encode())
        self.prune()
        return prefix

    def prune(self) -> None:
        """Delete this job's complete checkpoints beyond ``keep``. Incomplete steps carry no
        marker, so nothing says whose they are: they are left alone (and never resumed)."""
        inv = self.inventory()
        own = Inventory(complete=tuple(s for s in inv.complete if self.is_own(s)), incomplete=())
        for step in to_prune(own, self.keep):
            prefix = self.uri(step)
            objects = self.storage.list_objects(prefix)
            # The marker goes first, so a half-deleted checkpoint never looks complete.
            objects.sort(key=lambda o: o.relative != MARKER)
            self.storage.delete([prefix.with_key(o.key) for o in objects])
            log.info("checkpoint: pruned %s", prefix)

    def download(self, step: int, dest: Path) -> Path:
        """Fetch a complete checkpoint into dest (which becomes the HF checkpoint dir)."""
        prefix = self.uri(step)
        marker = json.loads(self.storage.get_bytes(prefix.join(MARKER)))
        self.storage.download_prefix(prefix, dest, include=lambda key: key != MARKER)
        for entry in marker["files"]:
            got = (dest / entry["path"]).stat().st_size
            if got != entry["size"]:
                raise RuntimeError(
                    f"{prefix}{entry['path']}: size {got}, marker says {entry['size']}"
                )
        return dest
