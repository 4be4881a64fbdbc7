"""``watch`` (a live progress bar until the job ends) and ``logs`` (the trainer's log)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from finetune_api.status import FINAL_PHASES, Phase
from finetune_cli.errors import JobDidNotSucceed, NotFound
from finetune_cli.kube import COMPLETION_INDEX, ROLE_LABEL, Cluster
from finetune_cli.views import failure_reason, job_status, progress_line


def watch(cluster: Cluster, console: Console, name: str, interval: float) -> None:
    """Poll the job every ``interval`` seconds until it ends; JobDidNotSucceed unless it
    Succeeded. The operator mirrors the trainer's progress about every 10 s. On a terminal a
    live bar; piped (a CI log, ``tee``), a timestamped line whenever the progress changes, as
    ``kubectl get -w`` prints, since a bar drawn in place would show only at the end."""
    if console.is_terminal:
        job = _watch_with_bar(cluster, console, name, interval)
    else:
        job = _watch_with_lines(cluster, console, name, interval)
    phase = job_status(job).phase
    if phase != Phase.SUCCEEDED:
        raise JobDidNotSucceed(f"{name} {phase}: {failure_reason(job)}")
    console.print(f"{name} Succeeded", highlight=False)


def _watch_with_bar(
    cluster: Cluster, console: Console, name: str, interval: float
) -> Mapping[str, Any]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(name, total=None, detail="")
        for job in _until_final(cluster, name, interval):
            line = progress_line(job)
            bar.update(task, completed=line.completed, total=line.total, detail=line.fields)
    return job


def _watch_with_lines(
    cluster: Cluster, console: Console, name: str, interval: float
) -> Mapping[str, Any]:
    shown = ""
    for job in _until_final(cluster, name, interval):
        fields = progress_line(job).fields
        if fields != shown:
            console.print(f"{time.strftime('%H:%M:%S')}  {name}  {fields}", highlight=False)
            shown = fields
    return job


def _until_final(cluster: Cluster, name: str, interval: float) -> Iterator[Mapping[str, Any]]:
    """The job as polled, every ``interval`` seconds, up to and including its final phase."""
    while True:
        job = cluster.get_job(name)
        yield job
        if job_status(job).phase in FINAL_PHASES:
            return
        time.sleep(interval)


def trainer_pod(pods: Sequence[Mapping[str, Any]], rank: int) -> str | None:
    """The pod whose log is the trainer's: the newest training pod of node ``rank`` (each
    attempt is a new Job, so the newest is the current one); before training, the newest
    validation pod (its rank is 0)."""

    def newest(role: str, index: str | None) -> str | None:
        chosen = [
            p
            for p in pods
            if (p["metadata"].get("labels") or {}).get(ROLE_LABEL) == role
            and (
                index is None
                or (p["metadata"].get("annotations") or {}).get(COMPLETION_INDEX) == index
            )
        ]
        if not chosen:
            return None
        latest = max(chosen, key=lambda p: p["metadata"].get("creationTimestamp") or "")
        return str(latest["metadata"]["name"])

    return newest("train", str(rank)) or (newest("validate", None) if rank == 0 else None)


def logs(cluster: Cluster, console: Console, name: str, rank: int, follow: bool) -> None:
    job = cluster.get_job(name)  # NotFound for a job that does not exist, not for its pods
    pod = trainer_pod(cluster.pods_of(name), rank)
    if pod is None:
        phase = job_status(job).phase or "Pending"
        raise NotFound(f"no trainer pod of rank {rank} for {name} (phase {phase})")
    for line in cluster.log_lines(pod, follow=follow):
        console.out(line, highlight=False)
