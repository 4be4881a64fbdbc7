"""Client of a running trainer's progress endpoint (docs/architecture.md, "Progress channel").

Pulling keeps trainer pods free of Kubernetes credentials. The pod runs the tenant's code, so its
answer is untrusted input: the body is read up to ``pod.PROGRESS_MAX_BYTES`` and refused past it,
never decompressed, redirects are not followed, and the JSON must be a ``ProgressReport`` within
its bounds. A pod that does not answer (not listening yet, restarting, unreachable) yields None,
as progress is best-effort and the next poll tries again; an answer that is not a report raises
``BadReport``, which the loop logs and otherwise ignores.
"""

from __future__ import annotations

import json

import aiohttp
from pydantic import ValidationError

from finetune_api import pod
from finetune_api.reports import ProgressReport

FETCH_TIMEOUT = aiohttp.ClientTimeout(total=3)
READ_CHUNK = 16 * 1024


class BadReport(Exception):
    """The trainer answered, but not with a progress report the operator can use."""


def decode_report(body: bytes, limit: int = pod.PROGRESS_MAX_BYTES) -> ProgressReport:
    """A ``/progress`` body as a report; raises BadReport saying what is wrong with it."""
    if len(body) > limit:
        raise BadReport(f"body is over the {limit}-byte limit")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:  # RecursionError: deeply nested JSON
        raise BadReport(f"body is not JSON: {type(error).__name__}") from None
    if not isinstance(document, dict):
        raise BadReport(f"body is a JSON {type(document).__name__}, not an object")
    try:
        return ProgressReport.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadReport(f"{where}: {first['msg']}") from None


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, read in chunks and abandoned as soon as it passes ``limit`` bytes."""
    if response.content_length is not None and response.content_length > limit:
        raise BadReport(f"body of {response.content_length} bytes is over the {limit}-byte limit")
    body = bytearray()
    async for chunk in response.content.iter_chunked(READ_CHUNK):
        body += chunk
        if len(body) > limit:
            raise BadReport(f"body is over the {limit}-byte limit")
    return bytes(body)


async def fetch_progress(
    pod_ip: str, *, port: int = pod.PROGRESS_PORT, limit: int = pod.PROGRESS_MAX_BYTES
) -> ProgressReport | None:
    """Rank 0's report; None when the pod does not answer 200, BadReport when its answer is
    not a report."""
    host = f"[{pod_ip}]" if ":" in pod_ip else pod_ip  # IPv6 literal
    url = f"http://{host}:{port}{pod.PROGRESS_PATH}"
    try:
        async with (
            # Raw bytes only: a small compressed body must not expand past the limit in memory.
            aiohttp.ClientSession(timeout=FETCH_TIMEOUT, auto_decompress=False) as session,
            session.get(
                url, allow_redirects=False, headers={"Accept-Encoding": "identity"}
            ) as response,
        ):
            if response.status != 200:
                return None
            body = await _read_capped(response, limit)
    except (aiohttp.ClientError, TimeoutError):
        return None
    return decode_report(body, limit)
