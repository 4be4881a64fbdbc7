"""The CRD schema against the contract's models: same fields, and for every spec field the same
default, bounds, enum and pattern; every field documented; the shape `kubectl get ftj` relies on.

The CRD is OpenAPI v3.0 (``exclusiveMinimum: true`` beside ``minimum``), pydantic writes JSON
Schema 2020-12 (``exclusiveMinimum: 0``, ``anyOf`` with null for optional fields, ``$ref``):
both are brought to one vocabulary, then walked side by side.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.manifests import finetunejob

from finetune_api import pod, resource
from finetune_api.jobspec import FineTuneJobSpec, parse_job
from finetune_api.podtemplate import OPERATOR_LABEL_KEYS, RESERVED_KEY_PREFIXES
from finetune_api.status import FineTuneJobStatus, Phase

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "finetunejob.yaml"
CONSTRAINTS = (
    "type",
    "enum",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "maxProperties",
    "pattern",
)
"""What the apiserver enforces per field; a model that enforced less would accept what the CRD
refuses (or the reverse), and the two would drift."""


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


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline a $ref, and the one non-null branch of an optional field (keeping its default)."""
    if "$ref" in schema:
        schema = {**defs[schema["$ref"].rsplit("/", 1)[1]], **_without(schema, "$ref")}
    if "anyOf" in schema:
        (branch,) = [b for b in schema["anyOf"] if b.get("type") != "null"]
        schema = {**_resolve(branch, defs), **_without(schema, "anyOf")}
    return schema


def _without(schema: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _constraints(schema: dict[str, Any]) -> dict[str, Any]:
    """The CONSTRAINTS in the CRD's vocabulary (JSON Schema's numeric exclusive bounds become a
    bound plus a flag; a single-value ``const`` an enum)."""
    found = {k: schema[k] for k in CONSTRAINTS if k in schema}
    if "const" in schema:
        found["enum"] = [schema["const"]]
    for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if not isinstance(found.get(flag), bool) and flag in found:
            found[bound], found[flag] = found[flag], True
    return found


def _crd_default(schema: dict[str, Any]) -> Any:
    return schema.get("default")


def _model_default(schema: dict[str, Any], required: bool) -> Any:
    """None: no default. pydantic omits factory defaults from the schema: an optional field
    without one is an object built from its own defaults, i.e. the CRD's ``default: {}``."""
    if "default" in schema:
        return schema["default"]
    return None if required else {}


def spec_differences(
    crd: dict[str, Any], model: dict[str, Any], defs: dict[str, Any], path: str
) -> list[str]:
    """Every way the CRD's ``crd`` and the model's ``model`` disagree, under ``path``."""
    model = _resolve(model, defs)
    found = []
    if _constraints(crd) != _constraints(model):
        found.append(f"{path}: CRD {_constraints(crd)} != model {_constraints(model)}")
    crd_props, model_props = crd.get("properties") or {}, model.get("properties") or {}
    if set(crd_props) != set(model_props):
        found.append(f"{path}: CRD fields {sorted(crd_props)} != model {sorted(model_props)}")
    if set(crd.get("required", [])) != set(model.get("required", [])):
        found.append(f"{path}: CRD requires {crd.get('required')}, model {model.get('required')}")
    for name in set(crd_props) & set(model_props):
        sub_crd, sub_model = crd_props[name], _resolve(model_props[name], defs)
        required = name in model.get("required", [])
        if _crd_default(sub_crd) != _model_default(sub_model, required):
            found.append(
                f"{path}.{name}: CRD default {_crd_default(sub_crd)!r} != "
                f"model {_model_default(sub_model, required)!r}"
            )
        found += spec_differences(sub_crd, sub_model, defs, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(crd.get(key), dict) and isinstance(model.get(key), dict):
            found += spec_differences(crd[key], model[key], defs, f"{path}{key[:1]}")
    return found


def test_crd_and_model_agree_on_every_spec_field(root: dict[str, Any]) -> None:
    schema = FineTuneJobSpec.model_json_schema(by_alias=True)
    assert spec_differences(root["properties"]["spec"], schema, schema["$defs"], "spec") == []


def test_crd_and_model_agree_on_the_status_fields(root: dict[str, Any]) -> None:
    schema = FineTuneJobStatus.model_json_schema(by_alias=True)
    crd_status = root["properties"]["status"]
    crd_fields = {path: s.get("type") for path, s in walk(crd_status)}
    model_fields = {
        path: _resolve(s, schema["$defs"]).get("type")
        for path, s in _walk_model(schema, schema["$defs"])
    }
    assert crd_fields == model_fields
    assert crd_status["properties"]["phase"]["enum"] == list(Phase)


def _walk_model(
    schema: dict[str, Any], defs: dict[str, Any], path: str = ""
) -> list[tuple[str, dict[str, Any]]]:
    schema = _resolve(schema, defs)
    found = [(path, schema)]
    for name, sub in (schema.get("properties") or {}).items():
        found += _walk_model(sub, defs, f"{path}.{name}")
    if "items" in schema:
        found += _walk_model(schema["items"], defs, f"{path}[]")
    return found


@pytest.mark.parametrize(
    "spec_extra",
    [
        {},
        {"method": {"type": "lora", "lora": {}}},
        {"method": {"type": "full"}},
        {"resources": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}},
        {"podTemplate": {"env": [{"name": "A", "value": "1"}]}, "tracking": {}},
    ],
    ids=["minimal", "empty-lora", "full", "toleration", "pod-template"],
)
def test_crd_defaults_equal_model_defaults(
    root: dict[str, Any], spec_extra: dict[str, Any]
) -> None:
    """What the apiserver stores after defaulting renders as the model renders the manifest."""
    manifest = finetunejob(**spec_extra)
    defaulted = apply_defaults(root["properties"]["spec"], copy.deepcopy(manifest["spec"]))
    rendered = parse_job(manifest).rendered()["spec"]
    assert parse_job({**manifest, "spec": defaulted}).rendered()["spec"] == rendered
    # The one default the CRD cannot hold: LoRA settings depend on method.type.
    if rendered["method"]["type"] == "lora":
        defaulted["method"]["lora"] = apply_defaults(
            root["properties"]["spec"]["properties"]["method"]["properties"]["lora"],
            defaulted["method"].get("lora", {}),
        )
    assert defaulted == rendered


def test_rendered_job_carries_every_default() -> None:
    """The trainer never guesses: an omitted lora block is written out with its defaults."""
    method = parse_job(finetunejob()).rendered()["spec"]["method"]
    assert method == {
        "type": "lora",
        "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "targetModules": ["all-linear"]},
    }


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


def test_names_columns_and_subresources(crd: dict[str, Any]) -> None:
    names = crd["spec"]["names"]
    assert (names["shortNames"], names["categories"]) == (["ftj"], ["ml"])
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == [
        "Phase",
        "Progress",
        "Train loss",
        "Eval loss",
        "Accuracy",
        "Age",
    ]


def test_group_version_and_kind_are_the_contracts(crd: dict[str, Any]) -> None:
    assert (crd["spec"]["group"], crd["spec"]["versions"][0]["name"]) == (
        resource.GROUP,
        resource.VERSION,
    )
    assert (crd["spec"]["names"]["kind"], crd["spec"]["names"]["plural"]) == (
        resource.KIND,
        resource.PLURAL,
    )


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


def test_env_rule_reserves_what_the_contract_reserves(root: dict[str, Any]) -> None:
    """The CEL rule on spec.podTemplate.env lists the names finetune_api.pod reserves."""
    item = root["properties"]["spec"]["properties"]["podTemplate"]["properties"]["env"]["items"]
    (rule,) = [v["rule"] for v in item["x-kubernetes-validations"] if "startsWith" in v["rule"]]
    listed = set(re.findall(r"'([A-Z_]+)'", rule.split("]")[0]))
    prefixes = tuple(re.findall(r"startsWith\('([A-Z_]+)'\)", rule))
    assert prefixes == pod.TRAINER_SET_ENV_PREFIXES
    assert listed == {n for n in pod.TRAINER_SET_ENV if not n.startswith(prefixes)}


def test_reserved_keys_are_the_models(root: dict[str, Any]) -> None:
    """The CEL rules on podTemplate labels and annotations refuse the keys the model refuses."""
    template = root["properties"]["spec"]["properties"]["podTemplate"]["properties"]
    for field in ("labels", "annotations"):
        rule = template[field]["x-kubernetes-validations"][0]["rule"]
        assert set(re.findall(r"startsWith\('([^']+)'\)", rule)) == set(RESERVED_KEY_PREFIXES)
        assert set(re.findall(r"'(app\.kubernetes\.io/[^']+)'", rule)) == set(OPERATOR_LABEL_KEYS)
