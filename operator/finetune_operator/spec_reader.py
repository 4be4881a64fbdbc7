"""Read a FineTuneJob's spec as this operator build understands it, tolerating fields it does not
know. Pure.

The CRD and the operator are upgraded separately: a CRD that gains a field first lets users set
it while this build's models (``extra="forbid"``, strict for the trainer and for admission) would
refuse the whole spec, and every active job would fail. Here unknown fields are set aside and
named, so the job carries on with what this build understands and says what it ignored
(condition SpecUnderstood). The rendered job document is built from the parsed models, so the
trainer never sees the ignored fields either.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
