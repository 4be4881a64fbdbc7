"""``plot``: the loss curves of a job's published ``metrics.json`` as a PNG, drawn by the same
function that draws the trainer's ``loss.png`` (``finetune_trainer.lossplot``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from finetune_cli import s3
from finetune_cli.errors import CliError, NotFound
from finetune_cli.kube import Cluster
from finetune_cli.views import job_status
from finetune_trainer.lossplot import loss_plot, loss_series

METRICS_FILE = "metrics.json"


def metrics_uri(job: Mapping[str, Any]) -> str:
    """Where the job's metrics.json is: under ``status.output.uri``, once it published."""
    status = job_status(job)
    if status.output is None or not status.output.uri:
        phase = status.phase or "Pending"
        raise NotFound(f"{job['metadata']['name']} has published no output yet (phase {phase})")
    return status.output.uri.rstrip("/") + "/" + METRICS_FILE


def history_of(metrics: Any, uri: str) -> list[dict[str, Any]]:
    """The history in a metrics.json, checked to hold at least one loss point."""
    history = metrics.get("history") if isinstance(metrics, dict) else None
    if not isinstance(history, list) or not loss_series(
        [e for e in history if isinstance(e, dict)]
    ):
        raise CliError(f"{uri}: no loss history to plot")
    return [e for e in history if isinstance(e, dict)]


def plot(
    cluster: Cluster,
    console: Console,
    name: str,
    out: Path | None,
    *,
    endpoint: str | None,
    region: str | None,
) -> Path:
    job = cluster.get_job(name)
    storage = job.get("spec", {}).get("storage") or {}
    uri = metrics_uri(job)
    # The flag, else the environment (as boto3 reads it), else the endpoint the job's pods used.
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL") or storage.get("endpoint")
    region = region or os.environ.get("AWS_REGION") or storage.get("region")
    metrics = s3.read_json(uri, endpoint=endpoint, region=region)
    path = out or Path(f"{name}-loss.png")
    loss_plot(history_of(metrics, uri), path, title=name)
    console.print(f"wrote {path} (loss curves of {uri})", highlight=False)
    return path
