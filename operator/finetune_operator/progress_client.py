"""Client of a running trainer's progress endpoint (docs/architecture.md, "Progress channel").

Pulling keeps trainer pods free of Kubernetes credentials. Any failure (pod not listening yet,
restarting, unreachable, not a report) yields None: progress is best-effort and the next poll
tries again.
"""

from __future__ import annotations

import aiohttp

from finetune_api import pod
from finetune_api.reports import ProgressReport, parse_progress

FETCH_TIMEOUT = aiohttp.ClientTimeout(total=3)


async def fetch_progress(pod_ip: str) -> ProgressReport | None:
    host = f"[{pod_ip}]" if ":" in pod_ip else pod_ip  # IPv6 literal
    url = f"http://{host}:{pod.PROGRESS_PORT}{pod.PROGRESS_PATH}"
    try:
        async with (
            aiohttp.ClientSession(timeout=FETCH_TIMEOUT) as session,
            session.get(url) as response,
        ):
            if response.status != 200:
                return None
            report = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return parse_progress(report)
