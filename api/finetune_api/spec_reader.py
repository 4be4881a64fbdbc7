"""Read a FineTuneJob as this build understands it, tolerating fields it does not know. Pure
but for reading a job file.

Each part is upgraded on its own. A CRD that gains a field first lets users set it while the
operator's models (``extra="forbid"``, strict for admission) would refuse the whole spec, and
every active job would fail; an operator newer than a job's trainer image renders a job document
that image's models would refuse. Here unknown fields are set aside and named, so the job carries
on with what this build understands and says what it ignored: the operator in condition
SpecUnderstood, the trainer in its log.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from finetune_api.jobspec import FineTuneJob, parse_job


@dataclass(frozen=True)
class ReadJob:
    job: FineTuneJob
    unknown_fields: tuple[str, ...]
    """Dotted paths (``spec.resources.newField``, ``spec.resources.tolerations[0].x``) of the
    fields set aside, sorted; empty when the spec was understood whole."""


def _dotted(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _without(document: dict[str, Any], locations: Sequence[Sequence[int | str]]) -> dict[str, Any]:
    stripped = copy.deepcopy(document)
    for loc in locations:
        parent: Any = stripped
        for part in loc[:-1]:
            parent = parent[part]
        del parent[loc[-1]]
    return stripped


def read_job(document: dict[str, Any]) -> ReadJob:
    """The job with unknown fields set aside; raises ValidationError for any other problem (a
    value out of range, a missing field, a broken cross-field rule)."""
    try:
        return ReadJob(parse_job(document), ())
    except ValidationError as error:
        unknown = [e["loc"] for e in error.errors() if e["type"] == "extra_forbidden"]
        if not unknown:
            raise
    job = parse_job(_without(document, unknown))
    return ReadJob(job, tuple(sorted(_dotted(loc) for loc in unknown)))


def read_job_file(path: str | Path) -> ReadJob:
    """Read a job file (YAML or JSON) as :func:`read_job` does; every refusal is a ValueError
    (pydantic's ValidationError is one), so a caller maps one exception type to "invalid
    config"."""
    with open(path, encoding="utf-8") as fh:
        try:
            document = yaml.safe_load(fh)
        except (yaml.YAMLError, RecursionError) as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a FineTuneJob document")
    return read_job(document)
