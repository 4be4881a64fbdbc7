"""The termination message: one short JSON object the operator reads instead of the logs."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

DEFAULT_PATH = "/dev/termination-log"
REPORTS_ENV = "FINETUNE_WORKER_REPORTS"
"""Set by the launcher: torchrun workers write their summary there, one file per rank."""
MAX_BYTES = 4096
"""Kubernetes keeps at most 4 KiB of a termination message."""

log = logging.getLogger(__name__)


def termination_path() -> Path | None:
    """Where this process reports: its rank file under a launcher, else the termination log.

    Of several ranks started by an outside torchrun only local rank 0 writes, so ranks do not
    overwrite each other's message.
    """
    reports = os.environ.get(REPORTS_ENV)
    if reports:
        return Path(reports) / f"rank-{os.environ.get('RANK', '0')}.json"
    if os.environ.get("LOCAL_RANK", "0") != "0":
        return None
    return Path(os.environ.get("FINETUNE_TERMINATION_LOG", DEFAULT_PATH))


def encode(summary: dict[str, Any]) -> bytes:
    """The summary as JSON under MAX_BYTES; a long message is shortened, never the structure."""
    data = json.dumps(summary, separators=(",", ":"), ensure_ascii=False).encode()
    message = summary.get("message")
    if len(data) <= MAX_BYTES or not isinstance(message, str):
        return data
    excess = len(data) - MAX_BYTES + len(" …".encode())
    shortened = message.encode()[: max(0, len(message.encode()) - excess)]
    return encode({**summary, "message": shortened.decode(errors="ignore") + " …"})


def write_termination(summary: dict[str, Any]) -> None:
    """Write the summary; an unwritable path (no container runtime, e.g. locally) is only logged."""
    path = termination_path()
    data = encode(summary)
    if path is None:
        log.info("summary (not this rank's to report): %s", data.decode())
        return
    try:
        path.write_bytes(data)
    except OSError as exc:
        log.warning("cannot write termination message to %s (%s): %s", path, exc, data.decode())


def failure(reason: str, message: str) -> dict[str, Any]:
    return {"ok": False, "reason": reason, "message": message}
