"""The storage operations on this machine's filesystem, for ``file://`` URIs of a local run.

``kubectl finetune run --local`` lets the model, the dataset and the output be local folders;
the trainer then reads and publishes exactly as it does against S3 (same layout, same
``manifest.json`` written last), through these methods instead of S3's. Writes go to a
temporary file renamed into place, so a reader never sees half a file, as with S3's objects.
A local failure (a missing folder, no permission) is the user's to fix: InvalidConfig naming
the path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from finetune_trainer.errors import InvalidConfig
from finetune_trainer.uris import ObjectInfo, ObjectUri


def path_of(uri: ObjectUri) -> Path:
    return Path("/", uri.key)


@contextmanager
def _named_errors(uri: ObjectUri) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise InvalidConfig(f"{uri}: {exc.strerror or exc}") from exc


class LocalStore:
    """list, exists, download, upload, copy, put, get and delete on local files."""

    def list_objects(self, uri: ObjectUri) -> list[ObjectInfo]:
        root = path_of(uri.with_key(uri.prefix))
        if not root.is_dir():
            return []
        return [
            ObjectInfo(
                key=uri.prefix + (rel := path.relative_to(root).as_posix()),
                relative=rel,
                size=path.stat().st_size,
            )
            for path in sorted(root.rglob("*"))
            if path.is_file()
        ]

    def exists(self, uri: ObjectUri) -> bool:
        return path_of(uri).is_file()

    def download_file(self, uri: ObjectUri, dest: Path) -> Path:
        with _named_errors(uri):
            shutil.copyfile(path_of(uri), dest)
        return dest

    def upload_file(self, path: Path, uri: ObjectUri) -> None:
        with _named_errors(uri), self._replacing(uri) as target:
            shutil.copyfile(path, target)

    def copy_object(self, source: ObjectUri, dest: ObjectUri) -> None:
        if not (source.is_local and dest.is_local):
            raise InvalidConfig(f"cannot copy {source} to {dest}: one is not a local path")
        self.upload_file(path_of(source), dest)

    def put_bytes(self, uri: ObjectUri, data: bytes) -> None:
        with _named_errors(uri), self._replacing(uri) as target:
            target.write_bytes(data)

    def get_bytes(self, uri: ObjectUri) -> bytes:
        with _named_errors(uri):
            return path_of(uri).read_bytes()

    def delete(self, uri: ObjectUri) -> None:
        with _named_errors(uri):
            path_of(uri).unlink(missing_ok=True)

    @staticmethod
    @contextmanager
    def _replacing(uri: ObjectUri) -> Iterator[Path]:
        """A temporary file beside the target, renamed over it once written."""
        final = path_of(uri)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.")
        os.close(fd)
        temporary = Path(name)
        try:
            yield temporary
            temporary.replace(final)
        finally:
            temporary.unlink(missing_ok=True)
