"""``create``, ``list``, ``describe``, ``suspend``, ``resume`` and ``cancel``: one API call each
(``describe`` two), printed as kubectl would."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import yaml
from rich.console import Console

from finetune_cli import render
from finetune_cli.kube import Cluster
from finetune_cli.views import LIST_HEADERS, describe_sections, list_row

RESOURCE = "finetunejob.finetune.dev"


def create(
    cluster: Cluster | None, console: Console, body: dict[str, Any], dry_run: str, output: str
) -> None:
    """Create the job, or (``--dry-run``) print it: as given (client) or as the apiserver
    would store it, defaults filled in (server)."""
    name = body["metadata"]["name"]
    if dry_run == "client":
        shown = body
    else:
        assert cluster is not None  # main connects for every mode but client
        shown = cluster.create_job(body, server_dry_run=dry_run == "server")
    if output:
        print_document(console, shown, output)
    elif dry_run != "none":
        console.print(f"{RESOURCE}/{name} created ({dry_run} dry run)", highlight=False)
    else:
        console.print(f"{RESOURCE}/{name} created", highlight=False)


def print_document(console: Console, document: dict[str, Any], output: str) -> None:
    text = (
        json.dumps(document, indent=2)
        if output == "json"
        else yaml.safe_dump(document, sort_keys=False)
    )
    console.out(text.rstrip("\n"), highlight=False)


def list_jobs(cluster: Cluster, console: Console, all_namespaces: bool) -> None:
    jobs = sorted(
        cluster.list_jobs(all_namespaces),
        key=lambda j: (j["metadata"].get("namespace", ""), j["metadata"]["name"]),
    )
    if not jobs:
        where = "any namespace" if all_namespaces else f"namespace {cluster.namespace}"
        console.print(f"No FineTuneJobs in {where}.", highlight=False)
        return
    now = datetime.now(UTC)
    rows = [list_row(job, now) for job in jobs]
    headers: tuple[str, ...] = LIST_HEADERS
    if all_namespaces:
        headers = ("NAMESPACE", *headers)
        rows = [
            (j["metadata"].get("namespace", ""), *row) for j, row in zip(jobs, rows, strict=True)
        ]
    console.print(render.table(headers, rows))


def describe(cluster: Cluster, console: Console, name: str) -> None:
    job = cluster.get_job(name)
    events = cluster.events_for(job)
    render.sections(console, describe_sections(job, events, datetime.now(UTC)))


def set_suspended(cluster: Cluster, console: Console, name: str, suspend: bool) -> None:
    """Suspend: the training pods stop, checkpoints stay; resume: it carries on from the last
    checkpoint (docs/user-guide.md). Only ``spec.runPolicy.suspend`` changes."""
    cluster.set_suspend(name, suspend)
    verb = "suspended" if suspend else "resumed"
    console.print(f"{RESOURCE}/{name} {verb}", highlight=False)


def cancel(cluster: Cluster, console: Console, name: str) -> None:
    """Delete the job: its pods and other children go with it; its output in S3 stays."""
    cluster.delete_job(name)
    console.print(
        f"{RESOURCE}/{name} cancelled (deleted; its pods go with it, its output stays)",
        highlight=False,
    )
