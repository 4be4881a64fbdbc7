"""The progress channel as untrusted input: the body is capped, redirects and compression are
refused, and only a report within the model's bounds is used (anything else is BadReport)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from finetune_api import pod
from finetune_api.reports import ProgressReport, Stage
from finetune_operator.progress_client import BadReport, decode_report, fetch_progress

GOOD = {"stage": "training", "step": 3, "totalSteps": 10, "updatedAt": "2026-11-28T12:00:00Z"}


def test_a_report_is_decoded_and_unknown_fields_are_ignored() -> None:
    body = json.dumps({**GOOD, "newerField": {"x": 1}}).encode()
    assert decode_report(body) == ProgressReport(
        stage=Stage.TRAINING, step=3, total_steps=10, updated_at="2026-11-28T12:00:00Z"
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "over the"),
        (b"[" * 30_000 + b"]" * 30_000, "not JSON"),  # under the cap, too deep to decode
        (b"[1, 2]", "JSON list, not an object"),
        (b'"text"', "JSON str, not an object"),
        (json.dumps({"step": -1}).encode(), "step: Input should be greater than or equal to 0"),
        (json.dumps({"step": 2**70}).encode(), "step:"),
        (json.dumps({"step": "many"}).encode(), "step:"),
        (json.dumps({"stage": "mining"}).encode(), "stage:"),
        (json.dumps({"updatedAt": "x" * 1000}).encode(), "updatedAt:"),
        (json.dumps({"lastCheckpoint": {"uri": "s3://" + "a" * 2000}}).encode(), "lastCheckpoint"),
        (json.dumps({"etaSeconds": -5}).encode(), "etaSeconds:"),
    ],
    ids=[
        "not-json",
        "over-the-cap",
        "deep-nesting",
        "list",
        "string",
        "negative-step",
        "step-past-int64",
        "step-not-a-number",
        "unknown-stage",
        "long-timestamp",
        "long-checkpoint-uri",
        "negative-eta",
    ],
)
def test_what_is_not_a_report_is_refused_naming_why(body: bytes, why: str) -> None:
    with pytest.raises(BadReport, match=why):
        decode_report(body, limit=64 * 1024)


def test_the_cap_is_the_contract_constant() -> None:
    assert pod.PROGRESS_MAX_BYTES == 64 * 1024
    assert decode_report(json.dumps(GOOD).encode()).step == 3


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve_and_fetch(handler: Handler, limit: int = 1024) -> ProgressReport | None:
    app = web.Application()
    app.router.add_get(pod.PROGRESS_PATH, handler)
    app.router.add_get("/elsewhere", lambda _: _json(GOOD))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        return await fetch_progress("127.0.0.1", port=port, limit=limit)
    finally:
        await runner.cleanup()


async def _json(document: Any) -> web.Response:
    return web.json_response(document)


def fetch(handler: Handler, limit: int = 1024) -> ProgressReport | None:
    return asyncio.run(_serve_and_fetch(handler, limit))


def test_a_good_answer_is_a_report() -> None:
    report = fetch(lambda _: _json(GOOD))
    assert report is not None and report.step == 3


def test_not_200_is_no_report_yet() -> None:
    async def unavailable(_: web.Request) -> web.Response:
        return web.Response(status=503)

    assert fetch(unavailable) is None


def test_a_body_over_the_cap_is_refused_by_its_length() -> None:
    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b" " * 5000 + json.dumps(GOOD).encode())

    with pytest.raises(BadReport, match=r"5[0-9]+ bytes is over the 1024-byte limit"):
        fetch(big)


def test_a_streamed_body_over_the_cap_is_abandoned() -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(1000):  # ~1 MB without a Content-Length
            await response.write(b" " * 1024)
        return response

    with pytest.raises(BadReport, match="over the 1024-byte limit"):
        fetch(endless)


def test_a_redirect_is_not_followed() -> None:
    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    assert fetch(redirect) is None


def test_a_compressed_body_is_never_expanded() -> None:
    async def bomb(_: web.Request) -> web.Response:
        body = gzip.compress(json.dumps({**GOOD, "pad": " " * 1_000_000}).encode())
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    with pytest.raises(BadReport, match="not JSON"):
        fetch(bomb, limit=64 * 1024)
