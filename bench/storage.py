"""Model-directory transfers: the trainer's ``Storage`` against single-stream boto3 and the disk.

`python -m bench.storage` (about 3 minutes on 2 shared cores; `--size-mb` for less) against the
local SeaweedFS (devcluster's S3). A model directory of random bytes is generated in a temp dir,
shaped like a checkpoint: four large shards holding most of the bytes and 64 small files (configs,
tokenizer, adapter pieces). Each mode uploads the directory, then downloads it into an empty
one:

- **ours**: ``Storage.upload_files`` / ``Storage.download_prefix``: every file submitted to the
  one s3transfer manager, multipart, ``PARALLEL_REQUESTS`` requests in flight together;
- **boto3 single stream**: one file after the other, each ``put_object`` / ``get_object`` one
  stream, the simplest correct client;
- **disk read**: the same files read from the local disk (page cache warm: written just before),
  the ceiling for a download that must also write them.

Bytes are checked after each download (sizes and a digest of the whole tree). The temp dir and
the bucket's objects are deleted at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.docs_section import replace_section
from devcluster import s3
from devcluster.settings import Settings

from finetune_trainer.storage import PARALLEL_REQUESTS, Storage, files_under
from finetune_trainer.uris import ObjectUri

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "storage.json"
BUCKET = "bench-storage"
SHARDS = 4
SMALL_FILES = 64
SMALL_FILE_BYTES = 256 * 1024
CHUNK = 8 * 2**20


@dataclass
class Result:
    mode: str
    direction: str
    files: int
    megabytes: float
    seconds: float
    mb_per_second: float


def make_model_dir(root: Path, total_mb: int) -> None:
    """SHARDS large files and SMALL_FILES small ones of random bytes, ``total_mb`` in all."""
    small = SMALL_FILES * SMALL_FILE_BYTES
    shard = (total_mb * 2**20 - small) // SHARDS
    for index in range(SHARDS):
        with open(root / f"model-{index + 1:05d}-of-{SHARDS:05d}.safetensors", "wb") as out:
            left = shard
            while left:
                block = min(CHUNK, left)
                out.write(os.urandom(block))
                left -= block
    for index in range(SMALL_FILES):
        (root / "extra" / f"part-{index:03d}.json").parent.mkdir(exist_ok=True)
        (root / "extra" / f"part-{index:03d}.json").write_bytes(os.urandom(SMALL_FILE_BYTES))


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for key, path in files_under(root).items():
        digest.update(key.encode())
        with open(path, "rb") as data:
            while block := data.read(CHUNK):
                digest.update(block)
    return digest.hexdigest()


def timed(mode: str, direction: str, files: dict[str, Path], run: Callable[[], object]) -> Result:
    megabytes = sum(p.stat().st_size for p in files.values()) / 2**20
    started = time.monotonic()
    run()
    seconds = time.monotonic() - started
    return Result(mode, direction, len(files), round(megabytes), round(seconds, 2),
                  round(megabytes / seconds, 1))  # fmt: skip


def read_all(files: dict[str, Path]) -> None:
    for path in files.values():
        with open(path, "rb") as data:
            while data.read(CHUNK):
                pass


def single_stream_upload(storage: Storage, files: dict[str, Path], prefix: ObjectUri) -> None:
    for key, path in files.items():
        with open(path, "rb") as body:
            target = prefix.join(key)
            storage.client.put_object(Bucket=target.bucket, Key=target.key, Body=body)


def single_stream_download(storage: Storage, prefix: ObjectUri, dest: Path) -> None:
    for obj in storage.list_objects(prefix):
        path = dest / obj.relative
        path.parent.mkdir(parents=True, exist_ok=True)
        body = storage.client.get_object(Bucket=prefix.bucket, Key=obj.key)["Body"]
        with open(path, "wb") as out:
            while block := body.read(CHUNK):
                out.write(block)


def transfers(
    mode: str, storage: Storage, files: dict[str, Path], prefix: ObjectUri, dest: Path
) -> tuple[Callable[[], object], Callable[[], object]]:
    """The mode's upload of ``files`` below ``prefix`` and download of it into ``dest``."""
    if mode == "ours":
        return (
            lambda: storage.upload_files(files, prefix),
            lambda: storage.download_prefix(prefix, dest),
        )
    return (
        lambda: single_stream_upload(storage, files, prefix),
        lambda: single_stream_download(storage, prefix, dest),
    )


def run(total_mb: int, tmp: Path, storage: Storage) -> list[Result]:
    source = tmp / "model"
    source.mkdir()
    make_model_dir(source, total_mb)
    files = files_under(source)
    expected = tree_digest(source)
    results = [timed("disk read", "read", files, lambda: read_all(files))]
    run_id = uuid.uuid4().hex[:8]
    for mode in ("boto3 single stream", "ours"):
        prefix = ObjectUri(BUCKET, f"{run_id}/{mode.replace(' ', '-')}/")
        dest = tmp / f"down-{mode.replace(' ', '-')}"
        up, down = transfers(mode, storage, files, prefix, dest)
        print(f"--- {mode}", flush=True)
        results.append(timed(mode, "upload", files, up))
        results.append(timed(mode, "download", files, down))
        if tree_digest(dest) != expected:
            raise RuntimeError(f"{mode}: the downloaded tree differs from the uploaded one")
        shutil.rmtree(dest)
        storage.delete([ObjectUri(BUCKET, o.key) for o in storage.list_objects(prefix)])
    return results


def table(results: list[Result]) -> list[str]:
    rows = ["| mode | direction | files | MB | s | MB/s |", "|---|---|---:|---:|---:|---:|"]
    rows += [
        f"| {r.mode} | {r.direction} | {r.files} | {r.megabytes:,.0f} | {r.seconds:.1f} "
        f"| {r.mb_per_second:,.0f} |"
        for r in results
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="model directory size")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.update(s3.endpoint(Settings.from_env()).env())
    storage = Storage()
    with contextlib.suppress(storage.client.exceptions.BucketAlreadyOwnedByYou):
        storage.client.create_bucket(Bucket=BUCKET)
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        results = run(args.size_mb, Path(tmp), storage)
    command = " ".join(["python -m bench.storage", *(sys.argv[1:] if argv is None else argv)])
    report = {
        "benchmark": "storage",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": {"nproc": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
        "workload": {
            "size_mb": args.size_mb,
            "shards": SHARDS,
            "small_files": SMALL_FILES,
            "parallel_requests": PARALLEL_REQUESTS,
        },
        "results": [asdict(r) for r in results],
    }
    if args.size_mb == parser.get_default("size_mb"):
        RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    if not args.no_docs:
        about = (
            f"Run {report['date']} on {os.cpu_count()} shared CPUs against the local SeaweedFS "
            f"(`{command}`): a {args.size_mb} MB directory of {SHARDS} shards "
            f"and {SMALL_FILES} files of {SMALL_FILE_BYTES // 1024} KiB."
        )
        replace_section("storage", about, table(results))
    print("\n".join(table(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
