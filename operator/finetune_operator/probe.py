"""Reads a running trainer's progress endpoint (docs/architecture.md, "Progress channel").

Pulling keeps trainer pods free of Kubernetes credentials. Any failure (pod not listening yet,
restarting, unreachable) yields None: progress is best-effort and the next poll tries again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from finetune_operator import names

PROBE_TIMEOUT = aiohttp.ClientTimeout(total=3)


async def fetch_progress(pod_ip: str) -> Mapping[str, Any] | None:
    host = f"[{pod_ip}]" if ":" in pod_ip else pod_ip  # IPv6 literal
    url = f"http://{host}:{names.PROGRESS_PORT}/progress"
    try:
        async with (
            aiohttp.ClientSession(timeout=PROBE_TIMEOUT) as session,
            session.get(url) as response,
        ):
            if response.status != 200:
                return None
            report = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return report if isinstance(report, dict) else None
