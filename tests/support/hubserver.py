"""A small stand-in for the Hugging Face Hub's download API, served from a thread.

It answers what huggingface_hub's ``HfApi.model_info`` and ``hf_hub_download`` ask (read from
huggingface_hub 2.x): ``GET /api/models/{repo}/revision/{rev}`` with the commit (``sha``) and
``siblings``, and ``HEAD``/``GET /{repo}/resolve/{rev}/{file}`` with ``X-Repo-Commit``, ``ETag``
and ``Content-Length``. Errors carry the ``X-Error-Code`` header the client maps to its
exception types (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``); a private repo
answers 401 without its token, as the Hub does. Every request is recorded, so a test can check
what was (not) downloaded. Point ``HF_ENDPOINT`` at ``url``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass
class Repo:
    """One model repo: its files (name -> bytes) at one commit, reachable by branch or sha."""

    files: dict[str, bytes]
    commit: str
    branches: tuple[str, ...] = ("main",)
    token: str | None = None
    """A private repo: requests without ``Authorization: Bearer <token>`` get 401."""


@dataclass
class HubServer:
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(method, path) of every request, in order."""
    failures: int = 0
    """Answer the next this many requests with 503 (the Hub down for a moment)."""
    url: str = ""

    def add(
        self, repo_id: str, files: dict[str, bytes], *, token: str | None = None, tag: str = ""
    ) -> Repo:
        """Serve files as repo_id at a commit derived from them (also by ``tag``, if given)."""
        digest = hashlib.sha1(json.dumps(sorted(files)).encode())
        for name in sorted(files):
            digest.update(files[name])
        branches = ("main", tag) if tag else ("main",)
        repo = Repo(dict(files), digest.hexdigest(), branches, token)
        self.repos[repo_id] = repo
        return repo

    def add_dir(self, repo_id: str, root: Path, **options: str | None) -> Repo:
        files = {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
        return self.add(repo_id, files, **options)  # type: ignore[arg-type]

    def downloaded(self) -> set[str]:
        """The file names fetched with GET from any repo."""
        return {
            p.split("/resolve/", 1)[1].split("/", 1)[1]
            for m, p in self.requests
            if m == "GET" and "/resolve/" in p
        }


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _answer(
            self, status: int, data: bytes = b"", headers: dict[str, str] | None = None
        ) -> tuple[int, bytes, dict[str, str]]:
            return status, data, headers or {}

        def _serve(self, *, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append((self.command, path))
            if hub.failures > 0:
                hub.failures -= 1
                status, data, headers = self._answer(503, b"down")
            else:
                status, data, headers = self._route(path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def _route(self, path: str) -> tuple[int, bytes, dict[str, str]]:
            if path.startswith("/api/models/"):
                repo_id, sep, revision = path[len("/api/models/") :].partition("/revision/")
                return self._info(repo_id, revision if sep else "main")
            repo_id, sep, rest = path.lstrip("/").partition("/resolve/")
            if not sep:
                return self._answer(404, b"", {"X-Error-Code": "RepoNotFound"})
            revision, _, name = rest.partition("/")
            return self._file(repo_id, revision, name)

        def _repo(self, repo_id: str) -> Repo | tuple[int, bytes, dict[str, str]]:
            repo = hub.repos.get(repo_id)
            if repo is None:  # as the Hub: 401 without a token, so private repos do not leak
                status = 404 if "Authorization" in self.headers else 401
                return self._answer(status, b"", {"X-Error-Code": "RepoNotFound"})
            if repo.token is not None:
                sent = self.headers.get("Authorization")
                if sent is None:
                    return self._answer(401, b"", {"X-Error-Code": "RepoNotFound"})
                if sent != f"Bearer {repo.token}":
                    message = "Invalid credentials in Authorization header"
                    return self._answer(401, b"", {"X-Error-Message": message})
            return repo

        def _commit(self, repo: Repo, revision: str) -> str | None:
            return repo.commit if revision in (*repo.branches, repo.commit) else None

        def _info(self, repo_id: str, revision: str) -> tuple[int, bytes, dict[str, str]]:
            repo = self._repo(repo_id)
            if not isinstance(repo, Repo):
                return repo
            commit = self._commit(repo, revision)
            if commit is None:
                return self._answer(404, b"", {"X-Error-Code": "RevisionNotFound"})
            info = {
                "id": repo_id,
                "sha": commit,
                "private": repo.token is not None,
                "siblings": [{"rfilename": name} for name in sorted(repo.files)],
            }
            return self._answer(
                200, json.dumps(info).encode(), {"Content-Type": "application/json"}
            )

        def _file(
            self, repo_id: str, revision: str, name: str
        ) -> tuple[int, bytes, dict[str, str]]:
            repo = self._repo(repo_id)
            if not isinstance(repo, Repo):
                return repo
            commit = self._commit(repo, revision)
            if commit is None:
                return self._answer(404, b"", {"X-Error-Code": "RevisionNotFound"})
            if name not in repo.files:
                headers = {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit}
                return self._answer(404, b"", headers)
            data = repo.files[name]
            etag = f'"{hashlib.sha256(data).hexdigest()}"'
            return self._answer(200, data, {"X-Repo-Commit": commit, "ETag": etag})

    return Handler


@contextmanager
def serve_hub() -> Iterator[HubServer]:
    """A Hub on 127.0.0.1 (a free port) for the with-block; add repos to the yielded server."""
    hub = HubServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
