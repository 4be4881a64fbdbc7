"""A scripted stand-in for the trainer image, for the operator's e2e tests.

It honours the operator ↔ trainer contract (docs/architecture.md) without torch: ``validate``
and ``train`` subcommands with ``--job FILE``, exit codes (0, 3 permanent, other = retry), the
JSON termination message, and ``GET /progress`` on ``$POD_IP:$FINETUNE_PROGRESS_PORT`` from
rank 0. Its behaviour is driven by the training set it reads from S3, as a real dataset drives
the real trainer: ordinary JSON lines are examples; one line ``{"standin": {...}}`` scripts it:

- ``"steps": N, "stepSeconds": S``: length of the fake training (default 6 steps of 0.5 s);
- ``"exit": 3`` (or any code): train fails with that code after the first step;
- ``"crashOnce": true``: the first attempt crashes (exit 1) after a step; a marker object under
  ``<output.uri>/standin/crashed`` makes later attempts succeed;
- ``"allocateMiB": N``: train touches N MiB after the first step, as a trainer outgrowing its
  memory limit would (the kernel's OOM killer ends it).

A line that is not JSON makes validation fail with reason InvalidDataset (exit 3).
Its image (tests/e2e/standin/Dockerfile) runs it as
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
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import yaml

EXIT_PERMANENT = 3


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def finish(code: int, summary: dict[str, Any]) -> None:
    """Leave the termination message, then exit with ``code``."""
    path = os.environ.get("FINETUNE_TERMINATION_LOG", "/dev/termination-log")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(summary)[:4000])
    print(f"standin: exit {code}: {summary}", flush=True)
    sys.exit(code)


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class Storage:
    def __init__(self) -> None:
        self.client = boto3.client("s3", region_name=os.environ.get("AWS_REGION", "us-east-1"))

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


def load_dataset(storage: Storage, uri: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Examples and the script line; exits 3 (InvalidDataset) on a line that is not JSON."""
    try:
        text = storage.read(uri)
    except Exception as error:
        finish(
            EXIT_PERMANENT,
            {"ok": False, "reason": "InvalidDataset", "message": f"cannot read {uri}: {error}"},
        )
    examples, script = [], {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            finish(
                EXIT_PERMANENT,
                {
                    "ok": False,
                    "reason": "InvalidDataset",
                    "message": f"{uri} line {number}: not JSON",
                },
            )
        if isinstance(record, dict) and "standin" in record:
            script = record["standin"]
        else:
            examples.append(record)
    return examples, script


def validate(job: dict[str, Any]) -> None:
    examples, _ = load_dataset(Storage(), job["spec"]["dataset"]["train"])
    finish(
        0,
        {
            "ok": True,
            "kind": "validate",
            "dataset": {
                "trainExamples": len(examples),
                "evalExamples": 0,
                "trainTokens": sum(len(json.dumps(e)) // 4 for e in examples),
                "truncatedExamples": 0,
                "droppedExamples": 0,
                "format": "text",
            },
        },
    )


def serve_progress(state: dict[str, Any]) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(state).encode()
            self.send_response(200 if self.path == "/progress" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    address = (os.environ.get("POD_IP", ""), int(os.environ.get("FINETUNE_PROGRESS_PORT", "8478")))
    server = ThreadingHTTPServer(address, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def train(job: dict[str, Any]) -> None:
    storage = Storage()
    spec = job["spec"]
    output = spec["output"]["uri"].rstrip("/")
    _, script = load_dataset(storage, spec["dataset"]["train"])
    rank = int(os.environ.get("NODE_RANK", "0"))
    steps, pause = int(script.get("steps", 6)), float(script.get("stepSeconds", 0.5))
    state: dict[str, Any] = {
        "stage": "training",
        "step": 0,
        "totalSteps": steps,
        "epoch": 0.0,
        "updatedAt": now(),
    }
    if rank == 0:
        serve_progress(state)
    for step in range(1, steps + 1):
        time.sleep(pause)
        state.update(
            step=step,
            epoch=step / steps,
            loss=2.0 / step,
            tokensPerSecond=1000.0,
            etaSeconds=int((steps - step) * pause),
            updatedAt=now(),
        )
        if step % 2 == 0 and rank == 0:
            checkpoint = f"{output}/checkpoints/step-{step:06d}/"
            storage.write(checkpoint + "state.json", json.dumps({"step": step}))
            state["lastCheckpoint"] = {"uri": checkpoint, "step": step, "time": now()}
        if step == 1 and "allocateMiB" in script:
            held = b"\x01" * (int(script["allocateMiB"]) << 20)  # written, so resident
            print(f"standin: holding {len(held) >> 20} MiB", flush=True)
        if step == 1 and "exit" in script:
            code = int(script["exit"])
            finish(
                code,
                {
                    "ok": False,
                    "reason": "InvalidCredentials" if code == EXIT_PERMANENT else "Error",
                    "message": f"scripted exit {code}",
                },
            )
        if step == 1 and script.get("crashOnce") and rank == 0:
            marker = f"{output}/standin/crashed"
            if not storage.exists(marker):
                storage.write(marker, now())
                finish(1, {"ok": False, "reason": "Error", "message": "scripted crash"})
    if rank != 0:
        finish(0, {"ok": True, "kind": "train", "rank": rank})
    files = ["adapter/adapter_model.safetensors", "metrics.json", "README.md"]
    for name in files:
        storage.write(f"{output}/{name}", "standin")
    storage.write(f"{output}/manifest.json", json.dumps({"files": files}))
    state.update(stage="done", evalLoss=1.25)
    finish(
        0,
        {
            "ok": True,
            "kind": "train",
            "step": steps,
            "metrics": {
                "trainLoss": 2.0 / steps,
                "evalLoss": 1.25,
                "evalPerplexity": 3.49,
                "baseEvalLoss": 2.5,
                "evalTokenAccuracy": 0.5,
            },
            "output": {"uri": f"{output}/", "manifest": f"{output}/manifest.json", "files": files},
        },
    )


def main() -> None:
    # As the container's PID 1 it would ignore SIGTERM without a handler, and every deletion
    # would wait out the pod's grace period; the real trainer checkpoints and exits 143.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
