"""FineTuneJob manifests from ``create``'s flags or a file, checked by the contract's own model.

``manifest_from_flags`` is pure: the same flags always give the same manifest, holding only
what the user set (the CRD fills in the defaults, as it does for ``kubectl apply``). Both paths
validate with ``finetune_api.jobspec.parse_job``, so a bad value is refused here with the
message the model (and the CRD) would give, as one line naming the field and its flag.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from finetune_api.jobspec import parse_job
from finetune_api.resource import API_VERSION, KIND
from finetune_cli.errors import UsageError


@dataclass(frozen=True)
class JobFlags:
    """``create``'s flags; each field's metadata names its spec path (camelCase) and flag."""

    name: str
    model: str
    data: str
    output: str
    eval: str | None = None
    eval_split: float | None = None
    format: str | None = None
    method: str | None = None
    lora_r: int | None = None
    epochs: float | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    max_seq_length: int | None = None
    max_steps: int | None = None
    nodes: int | None = None
    gpus: int | None = None
    credentials_secret: str | None = None
    s3_endpoint: str | None = None
    region: str | None = None
    merge: bool | None = None
    queue: str | None = None
    image: str | None = None


SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "model": ("baseModel", "uri"),
    "data": ("dataset", "train"),
    "eval": ("dataset", "eval"),
    "eval_split": ("dataset", "evalSplit"),
    "format": ("dataset", "format"),
    "method": ("method", "type"),
    "lora_r": ("method", "lora", "r"),
    "epochs": ("hyperparameters", "epochs"),
    "learning_rate": ("hyperparameters", "learningRate"),
    "batch_size": ("hyperparameters", "batchSize"),
    "max_seq_length": ("hyperparameters", "maxSeqLength"),
    "max_steps": ("hyperparameters", "maxSteps"),
    "nodes": ("resources", "numNodes"),
    "gpus": ("resources", "gpusPerNode"),
    "credentials_secret": ("storage", "secretRef", "name"),
    "s3_endpoint": ("storage", "endpoint"),
    "region": ("storage", "region"),
    "output": ("output", "uri"),
    "merge": ("output", "merge"),
    "queue": ("queueName",),
    "image": ("image",),
}
"""Where each flag goes in ``spec`` (and, read backwards, which flag a refused field came from)."""


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def manifest_from_flags(flags: JobFlags, namespace: str | None) -> dict[str, Any]:
    """The manifest the flags describe, validated; UsageError naming the field and flag."""
    spec: dict[str, Any] = {}
    for field in fields(flags):
        value = getattr(flags, field.name)
        if field.name == "name" or value is None:
            continue
        *parents, leaf = SPEC_PATHS[field.name]
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    metadata: dict[str, Any] = {"name": flags.name}
    if namespace:
        metadata["namespace"] = namespace
    document = {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}
    check(document, source="flags")
    return document


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The FineTuneJob document in ``path`` (YAML or JSON), not yet validated; UsageError when
    it cannot be read, is not YAML, or is not a FineTuneJob."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise UsageError(f"{path}: not a {KIND} manifest")
    return document


def manifest_from_file(path: str, namespace: str | None) -> dict[str, Any]:
    """The manifest in ``path`` (YAML or JSON), validated, in ``namespace`` if given."""
    document = read_manifest(path)
    metadata = document.setdefault("metadata", {})
    if namespace and metadata.get("namespace") not in (None, namespace):
        raise UsageError(
            f"{path}: metadata.namespace {metadata['namespace']!r} does not match the "
            f"namespace {namespace!r} (-n); drop one of them"
        )
    if namespace:
        metadata["namespace"] = namespace
    check(document, source=path)
    return document


def check(document: dict[str, Any], *, source: str, local: bool = False) -> None:
    """Validate with the contract's model; UsageError with the first refusal as one line."""
    try:
        parse_job(document, local=local)
    except ValidationError as exc:
        raise UsageError(f"{source}: {validation_line(exc, from_flags=source == 'flags')}") from exc


def validation_line(exc: ValidationError, *, from_flags: bool = False) -> str:
    """The first error as ``spec.field.path: message`` (plus its flag when from flags), and how
    many more there are."""
    errors = exc.errors()
    first = errors[0]
    location = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    flag = _flag_for(first["loc"]) if from_flags else None
    where = f"{location} ({flag})" if flag else location
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}" if location else f"{message}{more}"


def _flag_for(loc: tuple[int | str, ...]) -> str | None:
    path = tuple(str(part) for part in loc)
    for field, spec_path in SPEC_PATHS.items():
        if path[: len(spec_path) + 1] == ("spec", *spec_path):
            return flag_name(field)
    return None
