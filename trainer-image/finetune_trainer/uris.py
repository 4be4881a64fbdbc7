"""Where an object lives: an S3 URI, or a ``file://`` one for a local run (``localstore``)."""

from __future__ import annotations

from dataclasses import dataclass

from finetune_trainer.errors import InvalidConfig

FILE_SCHEME = "file://"


@dataclass(frozen=True)
class ObjectUri:
    """An object or folder: ``s3://bucket/key``, or ``file:///absolute/path`` (bucket empty,
    key the path without its leading slash, so joining and prefixes work alike)."""

    bucket: str
    key: str
    scheme: str = "s3"

    @classmethod
    def parse(cls, uri: str) -> ObjectUri:
        if uri.startswith(FILE_SCHEME):
            path = uri[len(FILE_SCHEME) :]
            if not path.startswith("/"):
                raise InvalidConfig(f"not an absolute file:/// URI: {uri!r}")
            return cls("", path.lstrip("/"), "file")
        if not uri.startswith("s3://"):
            raise InvalidConfig(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket:
            raise InvalidConfig(f"no bucket in {uri!r}")
        return cls(bucket, key)

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    @property
    def prefix(self) -> str:
        """The key as a folder prefix ('' for the bucket root, else ending with '/')."""
        return self.key if not self.key or self.key.endswith("/") else self.key + "/"

    def join(self, *parts: str) -> ObjectUri:
        return self.with_key(self.prefix + "/".join(p.strip("/") for p in parts))

    def with_key(self, key: str) -> ObjectUri:
        """Another object in the same bucket (or filesystem)."""
        return ObjectUri(self.bucket, key, self.scheme)

    def __str__(self) -> str:
        return f"{FILE_SCHEME}/{self.key}" if self.is_local else f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    relative: str
    size: int
