"""Generate docs/api.md from the CRD, so the reference never drifts from the schema.

Run ``python tools/gen_api_docs.py`` (or ``make api-docs``) after changing crds/finetunejob.yaml;
a unit test fails while the file is stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "crds" / "finetunejob.yaml"
DOC = ROOT / "docs" / "api.md"


def _type(schema: dict[str, Any]) -> str:
    kind = str(schema.get("type", "object"))
    if kind == "array":
        return f"[]{_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map[string]{_type(schema['additionalProperties'])}"
    return kind


def _constraints(schema: dict[str, Any]) -> str:
    parts = []
    if "enum" in schema:
        parts.append("one of " + ", ".join(f"`{v}`" for v in schema["enum"]))
    for bound, exclusive, sign in (
        ("minimum", "exclusiveMinimum", ">"),
        ("maximum", "exclusiveMaximum", "<"),
    ):
        if bound in schema:
            parts.append(f"{sign}{'' if schema.get(exclusive) else '='} {schema[bound]}")
    if "pattern" in schema:
        parts.append(f"pattern `{schema['pattern']}`")
    if "maxLength" in schema:
        parts.append(f"at most {schema['maxLength']} chars")
    return "; ".join(parts)


def _rows(schema: dict[str, Any], path: str, required: set[str]) -> list[str]:
    rows = []
    for name, sub in (schema.get("properties") or {}).items():
        field = f"{path}.{name}" if path else name
        default = json.dumps(sub["default"]) if "default" in sub else ""
        must = "yes" if name in required else ""
        description = " ".join(str(sub.get("description", "")).split())
        rows.append(
            f"| `{field}` | {_type(sub)} | {must} | {default and f'`{default}`'} | "
            f"{_constraints(sub)} | {description} |"
        )
        nested = sub.get("items", sub) if sub.get("type") == "array" else sub
        suffix = "[]" if sub.get("type") == "array" else ""
        rows += _rows(nested, field + suffix, set(nested.get("required", [])))
    return rows


def _rules(schema: dict[str, Any], path: str) -> list[str]:
    found = [
        f"- `{path or '.'}`: {' '.join(rule['message'].split())}"
        for rule in schema.get("x-kubernetes-validations", [])
    ]
    for name, sub in (schema.get("properties") or {}).items():
        found += _rules(sub, f"{path}.{name}" if path else name)
    return found


def render() -> str:
    crd = yaml.safe_load(CRD.read_text())
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    header = (
        "| field | type | required | default | constraints | description |\n"
        "|---|---|---|---|---|---|"
    )
    spec, status = schema["properties"]["spec"], schema["properties"]["status"]
    columns = ", ".join(c["name"] for c in version["additionalPrinterColumns"])
    names = crd["spec"]["names"]
    return "\n".join(
        [
            "# FineTuneJob API reference",
            "",
            "<!-- Generated from crds/finetunejob.yaml by `python tools/gen_api_docs.py`;"
            " do not edit. -->",
            "",
            f"`{crd['spec']['group']}/{version['name']}`, kind `{names['kind']}`, short name "
            f"`{names['shortNames'][0]}`, category `{names['categories'][0]}`. "
            f"`kubectl get ftj` columns: {columns}. "
            "`kubectl explain ftj.spec` shows the same text.",
            "",
            " ".join(schema["description"].split()),
            "",
            "## spec",
            "",
            header,
            *_rows(spec, "spec", set(spec.get("required", []))),
            "",
            "## Rules checked by the apiserver (CEL)",
            "",
            *_rules(schema, ""),
            "",
            "## status",
            "",
            header,
            *_rows(status, "status", set()),
            "",
        ]
    )


if __name__ == "__main__":
    DOC.write_text(render())
