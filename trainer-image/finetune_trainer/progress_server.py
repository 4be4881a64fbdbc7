"""The progress channel: global rank 0 serves ``GET /progress`` (docs/architecture.md).

The operator polls it; pull keeps Kubernetes credentials out of the trainer pods. The body is a
``finetune_api.reports.ProgressReport``, replaced whole under a lock, so the HTTP thread never
sees a half-written update.
"""

from __future__ import annotations

import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from finetune_api import pod
from finetune_api.pod import Env
from finetune_api.reports import ProgressReport, Stage, now_rfc3339

HEARTBEAT_S = 15.0
"""``updatedAt`` is refreshed at least this often, so a slow step never looks like a dead pod."""
log = logging.getLogger(__name__)


class ProgressServer:
    """Current progress, shared between the training loop and the HTTP server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._report = ProgressReport(stage=Stage.LOADING, updated_at=now_rfc3339())
        self._server: ThreadingHTTPServer | None = None
        self._stopped = threading.Event()

    def update(self, **fields: Any) -> None:
        """Merge ``ProgressReport`` fields (None values are dropped: unknown fields stay absent)."""
        with self._lock:
            known = self._report.model_dump(exclude_none=True)
            known.update({k: v for k, v in fields.items() if v is not None})
            known["updated_at"] = now_rfc3339()
            self._report = ProgressReport.model_validate(known)

    def snapshot(self) -> ProgressReport:
        with self._lock:
            return self._report

    def serve(self, host: str | None = None, port: int | None = None) -> int:
        """Start the HTTP server in a daemon thread; returns the bound port."""
        host = host if host is not None else os.environ.get(Env.POD_IP, "")
        if port is None:
            port = int(os.environ.get(Env.PROGRESS_PORT, pod.PROGRESS_PORT))
        progress = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != pod.PROGRESS_PATH:
                    self.send_error(404)
                    return
                body = progress.snapshot().model_dump_json(by_alias=True, exclude_none=True)
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Polls every 10 s would flood the training log; stay quiet."""

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        threading.Thread(target=self._heartbeat, daemon=True).start()
        bound = int(self._server.server_address[1])
        log.info("progress: serving GET %s on %s:%d", pod.PROGRESS_PATH, host or "*", bound)
        return bound

    def _heartbeat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_S):
            self.update()

    def close(self) -> None:
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
