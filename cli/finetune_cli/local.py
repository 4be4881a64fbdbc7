"""``run --local FILE``: a FineTuneJob trained on this machine by the trainer's own code.

The manifest is the one a cluster would take, except that the model, the dataset and the
output may also be local: a plain path (relative to the manifest's folder) or ``file://``.
They become ``file://`` URIs, and the job is parsed with ``parse_job(local=True)``, the only
parse that accepts them (the CRD, the operator and the trainer in a pod never do). The trainer
then runs in this process as ``python -m finetune_trainer train`` runs in a single-process pod:
rank 0 serves its progress report on a local port, which the bar polls as the operator would,
and the summary it would leave as its termination message becomes the final table.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from finetune_api import pod
from finetune_api.jobspec import FineTuneJob, parse_job
from finetune_api.pod import Env
from finetune_api.reports import Metrics, ProgressReport, TrainSummary
from finetune_cli import render
from finetune_cli.errors import CliError, JobDidNotSucceed, UsageError
from finetune_cli.manifest import read_manifest, validation_line
from finetune_cli.views import metric_rows, report_line

LOCAL_FIELDS = (("baseModel", "uri"), ("dataset", "train"), ("dataset", "eval"), ("output", "uri"))
"""The spec's URIs that may name this machine's files."""
POLL_S = 1.0


def localize(document: dict[str, Any], base: Path) -> dict[str, Any]:
    """The manifest with each local path of ``LOCAL_FIELDS`` as an absolute ``file://`` URI
    (relative paths are relative to ``base``, the manifest's folder); S3 URIs are kept."""
    spec = dict(document.get("spec") or {})
    for section, field in LOCAL_FIELDS:
        if not isinstance(spec.get(section), dict) or not isinstance(spec[section].get(field), str):
            continue
        value: str = spec[section][field]
        if value.startswith(("s3://", "file://")):
            continue
        path = (base / value).resolve()
        folder = field == "uri" or value.endswith("/")
        spec[section] = {**spec[section], field: path.as_uri() + ("/" if folder else "")}
    return {**document, "spec": spec}


def load_local_job(path: Path) -> FineTuneJob:
    """The manifest at ``path``, localized and validated; UsageError naming the field."""
    document = read_manifest(path)
    try:
        return parse_job(localize(document, path.resolve().parent), local=True)
    except ValidationError as exc:
        raise UsageError(f"{path}: {validation_line(exc)}") from exc


def prepare_environment(scratch: Path) -> int:
    """The env a trainer pod would have, on this machine; returns the progress port.

    Scratch, caches and the termination message under ``scratch``; progress on loopback only.
    """
    from finetune_trainer.config import free_port, single_process_env, use_scratch  # noqa: PLC0415

    port = free_port()
    os.environ[Env.SCRATCH] = str(scratch)
    os.environ[Env.TERMINATION_LOG] = str(scratch / "termination-log")
    os.environ[Env.PROGRESS_PORT] = str(port)
    os.environ[Env.POD_IP] = "127.0.0.1"
    use_scratch(os.environ)
    single_process_env()
    return port


@contextmanager
def trainer_log(path: Path) -> Iterator[None]:
    """The trainer's log goes to ``path``, not the terminal, which shows the bar."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


@contextmanager
def progress_bar(console: Console, name: str, port: int) -> Iterator[None]:
    """A bar fed by the trainer's own progress report, polled on its local port."""
    stop = threading.Event()
    url = f"http://127.0.0.1:{port}{pod.PROGRESS_PATH}"
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(name, total=None, detail="loading")

        def poll() -> None:
            while not stop.wait(POLL_S):
                try:
                    with urllib.request.urlopen(url, timeout=POLL_S) as answer:
                        report = ProgressReport.model_validate_json(answer.read())
                except (OSError, ValidationError):
                    continue  # not serving yet, or already closed
                line = report_line(report)
                bar.update(task, completed=line.completed, total=line.total, detail=line.fields)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            yield
        finally:
            stop.set()
            poller.join()


def run_local(console: Console, manifest: Path, scratch: Path | None) -> TrainSummary:
    """Train the job here; print its final metrics. JobDidNotSucceed with the trainer's reason."""
    job = load_local_job(manifest)
    scratch = (scratch or Path(tempfile.gettempdir()) / "finetune-local").resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    port = prepare_environment(scratch)
    try:
        from finetune_trainer import train  # noqa: PLC0415 (heavy: torch, transformers, DeepSpeed)
        from finetune_trainer.errors import TrainerError  # noqa: PLC0415
    except ImportError as exc:
        raise CliError(
            f"run --local needs the trainer's dependencies ({exc.name} is missing): "
            "pip install 'finetune-operator[trainer,cli]'"
        ) from exc
    log_path = scratch / f"{job.metadata.name}.log"
    console.print(f"training {job.metadata.name} locally; trainer log: {log_path}", highlight=False)
    with trainer_log(log_path), progress_bar(console, job.metadata.name, port):
        try:
            summary = train.run(job).summary
        except TrainerError as exc:
            raise JobDidNotSucceed(
                f"{job.metadata.name} Failed: {exc.reason}: {exc.message}"
            ) from exc
    metrics = summary.metrics or Metrics()
    console.print(render.table(("METRIC", "BASE → TUNED"), metric_rows(metrics)))
    if summary.output is not None:
        console.print(
            f"output: {summary.output.uri} ({summary.output.files} files)", highlight=False
        )
    return summary
