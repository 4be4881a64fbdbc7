"""The CRD schema against the shared job model: same fields, same defaults, every field
documented, and the shape `kubectl get ftj` relies on."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from finetune_trainer.jobspec import parse_job

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "finetunejob.yaml"

MINIMAL = {
    "apiVersion": "finetune.dev/v1alpha1",
    "kind": "FineTuneJob",
    "metadata": {"name": "demo", "namespace": "team-a"},
    "spec": {
        "baseModel": {"uri": "s3://models/base/"},
        "dataset": {"train": "s3://data/train.jsonl"},
        "output": {"uri": "s3://models/out/"},
    },
}


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    with open(CRD_PATH, encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


@pytest.fixture(scope="module")
def root(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting as the apiserver does it: a missing property with a default gets
    it, then defaulting recurses into objects and array items."""
    if schema.get("type") == "object" and isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = apply_defaults(sub, value[name])
    elif schema.get("type") == "array" and isinstance(value, list) and "items" in schema:
        value = [apply_defaults(schema["items"], item) for item in value]
    return value


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)]
    for name, sub in (schema.get("properties") or {}).items():
        found += walk(sub, f"{path}.{name}")
    if "items" in schema:
        found += walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += walk(schema["additionalProperties"], f"{path}{{}}")
    return found


@pytest.mark.parametrize(
    "spec_extra",
    [
        {},
        {"method": {"type": "lora", "lora": {}}},
        {"resources": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}},
    ],
    ids=["minimal", "empty-lora", "toleration"],
)
def test_crd_defaults_equal_model_defaults(
    root: dict[str, Any], spec_extra: dict[str, Any]
) -> None:
    manifest: dict[str, Any] = copy.deepcopy(MINIMAL)
    manifest["spec"].update(copy.deepcopy(spec_extra))
    defaulted = apply_defaults(root["properties"]["spec"], copy.deepcopy(manifest["spec"]))
    rendered = parse_job(manifest).rendered()["spec"]
    assert defaulted == rendered


def test_defaulted_spec_round_trips_through_the_model(root: dict[str, Any]) -> None:
    """What the apiserver stores after defaulting parses to the same job."""
    defaulted = apply_defaults(root["properties"]["spec"], copy.deepcopy(MINIMAL["spec"]))
    assert parse_job({**MINIMAL, "spec": defaulted}) == parse_job(MINIMAL)


def test_every_field_has_a_description(root: dict[str, Any]) -> None:
    undocumented = [
        path
        for path, schema in walk(root)
        if path not in ("", ".metadata")
        and not path.endswith("{}")
        and not schema.get("description")
    ]
    assert undocumented == []


def test_every_string_is_bounded(root: dict[str, Any]) -> None:
    """CEL cost estimation needs maxLength on spec strings (rules compare whole subtrees)."""
    unbounded = [
        path
        for path, schema in walk(root["properties"]["spec"], ".spec")
        if schema.get("type") == "string" and "maxLength" not in schema and "enum" not in schema
    ]
    assert unbounded == []


def test_status_describes_the_design_fields(root: dict[str, Any]) -> None:
    status = root["properties"]["status"]["properties"]
    assert {
        "phase",
        "observedGeneration",
        "conditions",
        "startTime",
        "completionTime",
        "dataset",
        "progress",
        "metrics",
        "lastCheckpoint",
        "output",
        "attempts",
    } <= set(status)
    assert set(status["phase"]["enum"]) >= {
        "Pending",
        "Validating",
        "Queued",
        "Running",
        "Succeeded",
        "Failed",
        "Cancelled",
        "Suspended",
    }


def test_names_columns_and_subresources(crd: dict[str, Any]) -> None:
    names = crd["spec"]["names"]
    assert (names["shortNames"], names["categories"]) == (["ftj"], ["ml"])
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Phase", "Progress", "Train loss", "Eval loss", "Age"]


def test_name_rule_is_the_binding_child_limit(root: dict[str, Any]) -> None:
    """Pod hostnames `<name>-train-<index>` (DNS labels, <= 63) bind tightest: the index goes
    up to numNodes.maximum - 1. Every other derived name is shorter."""
    max_index = (
        root["properties"]["spec"]["properties"]["resources"]["properties"]["numNodes"]["maximum"]
        - 1
    )
    limit = 63 - len("-train-") - len(str(max_index))
    rules = [v["rule"] for v in root["x-kubernetes-validations"]]
    assert f"size(self.metadata.name) <= {limit}" in rules
    longest = "a" * limit
    assert all(
        len(n) <= 63 for n in (f"{longest}-validate", f"{longest}-config", f"{longest}-train")
    )
