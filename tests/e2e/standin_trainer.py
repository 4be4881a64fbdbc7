"""A scripted stand-in for the trainer image, for the operator's e2e tests.

It honours the operator ↔ trainer contract (``finetune_api``, docs/architecture.md) without
torch: ``validate`` and ``train`` subcommands with ``--job FILE``, exit codes (0, 3 permanent,
other = retry), the JSON termination summary, and the progress report on
``$POD_IP:$FINETUNE_PROGRESS_PORT`` from rank 0, all built with the contract's own models.
Its behaviour is driven by the training set it reads from S3, as a real dataset drives the real
trainer: ordinary JSON lines are examples; one line ``{"standin": {...}}`` scripts it:

- ``"steps": N, "stepSeconds": S``: length of the fake training (default 6 steps of 0.5 s);
- ``"exit": 3`` (or any code): train fails with that code after the first step;
- ``"crashOnce": true``: the first attempt crashes (exit 1) after a step; a marker object under
  ``<output.uri>/standin/crashed`` makes later attempts succeed;
- ``"allocateMiB": N``: train touches N MiB after the first step, as a trainer outgrowing its
  memory limit would (the kernel's OOM killer ends it);
- ``"resume": true``: start after the newest checkpoint this job (its uid) wrote, as the real
  trainer does;
- ``"failRankOnce": R`` (R > 0: rank 0 writes the checkpoints): on the first attempt, rank R
  waits until a checkpoint of this job exists, then fails (exit 1); a marker
  ``<output.uri>/standin/failed-rank-R`` makes later attempts pass. The other ranks keep going
  until the Job controller stops them;
- ``"failRankAfterPublish": R``: rank R, done with its steps, waits until rank 0 has written
  ``manifest.json``, then fails (exit 1).
- ``"hangRankAfterPublish": R``: the same, but rank R then hangs (as in a stuck collective)
  until its pod is stopped.

Every start of a train pod leaves ``<output.uri>/standin/starts/rank-N/<nanoseconds>`` holding
``{"resumedFrom": step}``, so a test can count each rank's starts.

A line that is not JSON makes validation fail with reason InvalidDataset (exit 3).
Its image (tests/e2e/standin/Dockerfile: boto3 and the contract package) runs it as
``standin_trainer.py validate|train --job FILE``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn

import boto3
import yaml

from finetune_api import pod
from finetune_api.pod import Env
from finetune_api.reasons import Reason
from finetune_api.reports import (
    CheckpointRef,
    DatasetStats,
    FailureSummary,
    Metrics,
    OutputRef,
    ProgressReport,
    Stage,
    Summary,
    TrainSummary,
    ValidateSummary,
    now_rfc3339,
)


def finish(code: int, summary: Summary) -> NoReturn:
    """Leave the termination message, then exit with ``code``."""
    path = os.environ.get(Env.TERMINATION_LOG, pod.TERMINATION_LOG)
    text = json.dumps(summary.wire())
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text[: pod.TERMINATION_MAX_BYTES])
    print(f"standin: exit {code}: {text}", flush=True)
    sys.exit(code)


def invalid_dataset(message: str) -> NoReturn:
    finish(pod.EXIT_PERMANENT, FailureSummary(reason=Reason.INVALID_DATASET, message=message))


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class Storage:
    def __init__(self) -> None:
        self.client = boto3.client("s3", region_name=os.environ.get(Env.AWS_REGION, "us-east-1"))

    def read(self, uri: str) -> str:
        bucket, key = split_uri(uri)
        body: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body.decode()

    def write(self, uri: str, text: str) -> None:
        bucket, key = split_uri(uri)
        self.client.put_object(Bucket=bucket, Key=key, Body=text.encode())

    def exists(self, uri: str) -> bool:
        bucket, key = split_uri(uri)
        listing = self.client.list_objects_v2(Bucket=bucket, Prefix=key)
        return any(item["Key"] == key for item in listing.get("Contents", []))


def latest_checkpoint(storage: Storage, output: str, uid: str) -> int:
    """The step of the newest checkpoint this job (by uid) wrote under ``output``; 0 if none."""
    bucket, prefix = split_uri(f"{output}/checkpoints/")
    listing = storage.client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    newest = 0
    for item in listing.get("Contents", []):
        if item["Key"].endswith("/state.json"):
            state = json.loads(storage.read(f"s3://{bucket}/{item['Key']}"))
            if state.get("uid") == uid:
                newest = max(newest, int(state["step"]))
    return newest


def wait_until(what: str, probe: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            finish(1, FailureSummary(reason=Reason.ERROR, message=f"gave up waiting for {what}"))
        time.sleep(0.2)


def load_dataset(storage: Storage, uri: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Examples and the script line; exits 3 (InvalidDataset) on a line that is not JSON."""
    try:
        text = storage.read(uri)
    except Exception as error:
        invalid_dataset(f"cannot read {uri}: {error}")
    examples, script = [], {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            invalid_dataset(f"{uri} line {number}: not JSON")
        if isinstance(record, dict) and "standin" in record:
            script = record["standin"]
        else:
            examples.append(record)
    return examples, script


def validate(job: dict[str, Any]) -> None:
    examples, _ = load_dataset(Storage(), job["spec"]["dataset"]["train"])
    dataset = DatasetStats(
        train_examples=len(examples),
        eval_examples=0,
        train_tokens=sum(len(json.dumps(e)) // 4 for e in examples),
        truncated_examples=0,
        dropped_examples=0,
        format="text",
    )
    finish(0, ValidateSummary(dataset=dataset))


class Progress:
    """The latest report, replaced whole; the HTTP thread reads it."""

    def __init__(self, steps: int) -> None:
        self.report = ProgressReport(
            stage=Stage.TRAINING, step=0, total_steps=steps, epoch=0.0, updated_at=now_rfc3339()
        )

    def update(self, **fields: Any) -> None:
        self.report = self.report.model_copy(update={**fields, "updated_at": now_rfc3339()})

    def serve(self) -> None:
        progress = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = progress.report.model_dump_json(by_alias=True, exclude_none=True).encode()
                self.send_response(200 if self.path == pod.PROGRESS_PATH else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        port = int(os.environ.get(Env.PROGRESS_PORT, pod.PROGRESS_PORT))
        server = ThreadingHTTPServer((os.environ.get(Env.POD_IP, ""), port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()


def train(job: dict[str, Any]) -> None:
    storage = Storage()
    spec = job["spec"]
    output = spec["output"]["uri"].rstrip("/")
    _, script = load_dataset(storage, spec["dataset"]["train"])
    rank = int(os.environ.get(Env.NODE_RANK, "0"))
    uid = str((job.get("metadata") or {}).get("uid") or "")
    steps, pause = int(script.get("steps", 6)), float(script.get("stepSeconds", 0.5))
    first = latest_checkpoint(storage, output, uid) if script.get("resume") else 0
    storage.write(
        f"{output}/standin/starts/rank-{rank}/{time.time_ns()}", json.dumps({"resumedFrom": first})
    )
    progress = Progress(steps)
    progress.update(step=first)
    if rank == 0:
        progress.serve()
    fail_rank = script.get("failRankOnce")
    if fail_rank is not None and int(fail_rank) == rank:
        marker = f"{output}/standin/failed-rank-{rank}"
        if not storage.exists(marker):
            wait_until("a checkpoint", lambda: latest_checkpoint(storage, output, uid) > 0)
            storage.write(marker, now_rfc3339())
            finish(
                1, FailureSummary(reason=Reason.ERROR, message=f"scripted failure of rank {rank}")
            )
    for step in range(first + 1, steps + 1):
        time.sleep(pause)
        progress.update(
            step=step,
            epoch=step / steps,
            loss=2.0 / step,
            tokens_per_second=1000.0,
            eta_seconds=int((steps - step) * pause),
        )
        if step % 2 == 0 and rank == 0:
            checkpoint = f"{output}/checkpoints/step-{step:06d}/"
            storage.write(checkpoint + "state.json", json.dumps({"step": step, "uid": uid}))
            progress.update(
                last_checkpoint=CheckpointRef(uri=checkpoint, step=step, time=now_rfc3339())
            )
        if step == 1 and "allocateMiB" in script:
            held = b"\x01" * (int(script["allocateMiB"]) << 20)  # written, so resident
            print(f"standin: holding {len(held) >> 20} MiB", flush=True)
        if step == 1 and "exit" in script:
            code = int(script["exit"])
            reason = Reason.INVALID_CREDENTIALS if code == pod.EXIT_PERMANENT else Reason.ERROR
            finish(code, FailureSummary(reason=reason, message=f"scripted exit {code}"))
        if step == 1 and script.get("crashOnce") and rank == 0:
            marker = f"{output}/standin/crashed"
            if not storage.exists(marker):
                storage.write(marker, now_rfc3339())
                finish(1, FailureSummary(reason=Reason.ERROR, message="scripted crash"))
    if rank != 0:
        late = script.get("failRankAfterPublish")
        if late is not None and int(late) == rank:
            wait_until("the manifest", lambda: storage.exists(f"{output}/manifest.json"))
            finish(1, FailureSummary(reason=Reason.ERROR, message=f"rank {rank} failed late"))
        hang = script.get("hangRankAfterPublish")
        if hang is not None and int(hang) == rank:
            wait_until("the manifest", lambda: storage.exists(f"{output}/manifest.json"))
            print(f"standin: rank {rank} hangs after rank 0 published", flush=True)
            threading.Event().wait()  # as a rank stuck in a collective would
        finish(0, TrainSummary(rank=rank))
    files = ["adapter/adapter_model.safetensors", "metrics.json", "README.md"]
    for name in files:
        storage.write(f"{output}/{name}", "standin")
    storage.write(f"{output}/manifest.json", json.dumps({"files": files}))
    progress.update(stage=Stage.DONE, eval_loss=1.25)
    metrics = Metrics(
        train_loss=2.0 / steps,
        eval_loss=1.25,
        eval_perplexity=3.49,
        base_eval_loss=2.5,
        eval_token_accuracy=0.5,
    )
    output_ref = OutputRef(uri=f"{output}/", manifest=f"{output}/manifest.json", files=len(files))
    finish(0, TrainSummary(step=steps, metrics=metrics, output=output_ref))


def main() -> None:
    # As the container's PID 1 it would ignore SIGTERM without a handler, and every deletion
    # would wait out the pod's grace period; the real trainer checkpoints and exits 143.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(pod.EXIT_PREEMPTED))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["validate", "train"])
    parser.add_argument("--job", required=True)
    args = parser.parse_args()
    with open(args.job, encoding="utf-8") as handle:
        job = yaml.safe_load(handle)
    if args.command == "validate":
        validate(job)
    else:
        train(job)


if __name__ == "__main__":
    main()
