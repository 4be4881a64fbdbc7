"""The progress channel: global rank 0 serves ``GET /progress`` as JSON (docs/architecture.md).

The operator polls it; pull keeps Kubernetes credentials out of the trainer pods. The state is a
plain dict replaced under a lock, so the HTTP thread never sees a half-written update.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_PORT = 8478
HEARTBEAT_S = 15.0
"""``updatedAt`` is refreshed at least this often, so a slow step never looks like a dead pod."""
log = logging.getLogger(__name__)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Progress:
    """Current progress, shared between the training loop and the HTTP server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"stage": "loading", "updatedAt": now_rfc3339()}
        self._server: ThreadingHTTPServer | None = None
        self._stopped = threading.Event()

    def update(self, **fields: Any) -> None:
        """Merge fields (None values are dropped: unknown fields stay absent)."""
        with self._lock:
            state = dict(self._state)
            state.update({k: v for k, v in fields.items() if v is not None})
            state["updatedAt"] = now_rfc3339()
            self._state = state

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state)

    def serve(self, host: str | None = None, port: int | None = None) -> int:
        """Start the HTTP server in a daemon thread; returns the bound port."""
        host = host if host is not None else os.environ.get("POD_IP", "")
        if port is None:
            port = int(os.environ.get("FINETUNE_PROGRESS_PORT", DEFAULT_PORT))
        progress = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/progress":
                    self.send_error(404)
                    return
                body = json.dumps(progress.snapshot()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Polls every 10 s would flood the training log; stay quiet."""

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        threading.Thread(target=self._heartbeat, daemon=True).start()
        bound = int(self._server.server_address[1])
        log.info("progress: serving GET /progress on %s:%d", host or "*", bound)
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
