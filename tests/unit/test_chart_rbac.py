"""Least privilege of the chart's RBAC: never Secrets, never a wildcard.

The rules live as data in files/rbac-rules.yaml and templates/rbac.yaml only binds them, so
checking the data file checks every Role and ClusterRole the chart can render (the e2e chart
test checks the rendered output too).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "finetune-operator"
RULES: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (CHART / "files" / "rbac-rules.yaml").read_text(encoding="utf-8")
)
ALL_RULES = [(section, rule) for section, rules in RULES.items() for rule in rules]


def granted(rule: dict[str, Any], field: str) -> list[str]:
    return list(rule.get(field, []))


def test_sections_are_the_ones_the_template_binds() -> None:
    assert set(RULES) == {"namespaced", "namespacePatterns", "crdScanning"}


@pytest.mark.parametrize(("section", "rule"), ALL_RULES)
def test_rule_never_grants_secrets_or_wildcards(section: str, rule: dict[str, Any]) -> None:
    assert set(rule) <= {"apiGroups", "resources", "verbs"}, "no resourceNames/nonResourceURLs"
    for field in ("apiGroups", "resources", "verbs"):
        assert granted(rule, field), f"{section}: empty {field}"
        assert not any("*" in item for item in granted(rule, field)), f"{section}: wildcard"
    assert not any(r.split("/")[0] == "secrets" for r in granted(rule, "resources"))
    assert not {"escalate", "bind", "impersonate"} & set(granted(rule, "verbs"))


def test_pods_and_namespaces_are_read_only() -> None:
    for _, rule in ALL_RULES:
        if {"pods", "namespaces", "customresourcedefinitions"} & set(rule["resources"]):
            assert set(rule["verbs"]) <= {"get", "list", "watch"}


def test_templates_bind_only_the_rules_file() -> None:
    """Every `rules:` in a template is filled from files/rbac-rules.yaml, never written inline."""
    for template in (CHART / "templates").glob("*.yaml"):
        lines = template.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if re.fullmatch(r"\s*rules:\s*", line):
                assert "toYaml $rules." in lines[number + 1], f"{template.name}:{number + 1}"
