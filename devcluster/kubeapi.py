"""A minimal JSON client for the local apiserver, authenticated with the admin certificate.

The harness talks to the apiserver through this instead of the ``kubernetes``
package: it needs a dozen plain REST calls, and this keeps it independent of that package's
generated API (which changes shape between major versions). Tests get the real client from the
``kube`` fixture.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

from devcluster.settings import Settings

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"


class KubeError(Exception):
    """A non-2xx answer; ``status`` is the HTTP code, ``body`` the Status object if any."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {body.get('message', body)}")
        self.status = status
        self.body = body


class KubeApi:
    """One persistent HTTPS connection per thread to ``settings.api_url``."""

    def __init__(self, settings: Settings, timeout: float = 30.0) -> None:
        pki = settings.pki
        self._ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self._ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        self._port = settings.api_port
        self._timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPSConnection:
        conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self._port, context=self._ctx, timeout=self._timeout
            )
            self._local.conn = conn
        return conn

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """Send one request; returns the decoded JSON answer."""
        if params:
            path = f"{path}?{urllib.parse.urlencode(params)}"
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", "Content-Type": content_type}
        for attempt in (1, 2):  # a kept-alive connection may have been closed by the server
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        decoded = json.loads(raw) if raw else {}
        if resp.status >= 300:
            raise KubeError(resp.status, decoded if isinstance(decoded, dict) else {})
        return decoded

    def get(self, path: str, **params: str) -> Any:
        return self.request("GET", path, params=params)

    def create(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("POST", path, body)

    def patch(self, path: str, body: Mapping[str, Any], content_type: str = STRATEGIC) -> Any:
        return self.request("PATCH", path, body, content_type=content_type)

    def delete(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self.request("DELETE", path, body)

    def ensure(self, path: str, body: Mapping[str, Any]) -> None:
        """Create ``body`` in collection ``path`` unless an object of its name exists."""
        try:
            self.create(path, body)
        except KubeError as err:
            if err.status != 409:
                raise
