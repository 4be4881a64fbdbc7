"""The termination message: one short JSON summary the operator reads instead of the logs.

A failure's message is redacted (``redact.py``: no access key id, signature, URL query or the
env's secrets) and shortened to fit, since anyone who can read the job's status reads it."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from finetune_api import pod
from finetune_api.pod import Env
from finetune_api.reports import FailureSummary, Summary
from finetune_trainer.redact import redact, secrets_from_env

REPORTS_ENV = "FINETUNE_WORKER_REPORTS"
"""Set by the launcher: torchrun workers write their summary there, one file per rank."""

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
    return Path(os.environ.get(Env.TERMINATION_LOG, pod.TERMINATION_LOG))


def encode(summary: Summary) -> bytes:
    """The summary as JSON within the size limit; a long message is shortened, never the rest."""
    data = json.dumps(summary.wire(), separators=(",", ":"), ensure_ascii=False).encode()
    if len(data) <= pod.TERMINATION_MAX_BYTES or not isinstance(summary, FailureSummary):
        return data
    message = summary.message.encode()
    excess = len(data) - pod.TERMINATION_MAX_BYTES + len(" …".encode())
    shortened = message[: max(0, len(message) - excess)].decode(errors="ignore")
    return encode(summary.model_copy(update={"message": shortened + " …"}))


def write_termination(summary: Summary) -> None:
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


def failure(reason: str, message: str) -> FailureSummary:
    return FailureSummary(reason=reason, message=redact(message, secrets_from_env(os.environ)))
