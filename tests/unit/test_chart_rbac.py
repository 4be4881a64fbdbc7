"""Least privilege of the chart's RBAC: never Secrets, never a wildcard.

The rules live as data in files/rbac-rules.yaml and templates/rbac.yaml only binds them, so
checking the data file checks every Role and ClusterRole the chart can render (the e2e chart
test checks the rendered output too).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.manifests import finetunejob

from finetune_api.jobspec import parse_job
from finetune_api.resource import GROUP, PLURAL
from finetune_operator import builders, kube

CHART = Path(__file__).resolve().parents[2] / "helm" / "finetune-operator"
RULES: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (CHART / "files" / "rbac-rules.yaml").read_text(encoding="utf-8")
)
ALL_RULES = [(section, rule) for section, rules in RULES.items() for rule in rules]


def granted(rule: dict[str, Any], field: str) -> list[str]:
    return list(rule.get(field, []))


def test_sections_are_the_ones_the_template_binds() -> None:
    assert set(RULES) == {"namespaced", "namespacePatterns", "peering", "crdScanning"}


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


# -- The rules match the calls the operator makes ----------------------------------------------

OPERATOR = Path(__file__).resolve().parents[2] / "operator" / "finetune_operator"
Access = tuple[str, str, str]
"""(API group, resource[/subresource], verb)."""

KOPF_DAEMON = {"list", "watch", "patch"}
"""A Kopf handler on a resource: it lists and watches it, and patches finalizers and
annotations onto each object."""
KOPF_INDEX = {"list", "watch"}
KOPF_PEERING = {"list", "watch", "patch"}
"""Kopf's peering: it lists and watches the peering object and patches its keep-alive into it."""
PEERING_GROUP = "kopf.dev"
CLIENT_VERBS = {
    "create": {"create", "get"},
    "merge_patch": {"patch"},
    "delete": {"delete"},
    "list_uids": {"list"},
}
"""KubeClient methods and the verbs they use: create-if-absent reads the object after a 409."""
NOT_CALLS: set[Access] = {
    # Not a call: the OwnerReferencesPermissionEnforcement admission plugin asks for it when a
    # child sets blockOwnerDeletion on its FineTuneJob ownerReference.
    ("finetune.dev", "finetunejobs/finalizers", "update"),
}


def _sample_job() -> Any:
    return parse_job(finetunejob("demo", uid="u-1"))


def _build(name: str) -> dict[str, Any]:
    """The manifest a builder makes, to learn which collection a create goes to."""
    peer = builders.OperatorPeer("ops", (("app", "op"),))
    runtime = builders.TrainerRuntime(
        image="img", s3_endpoint="", grace_period_seconds=1, operator_peer=peer
    )
    builder = getattr(builders, name)
    parameters = builder.__code__.co_varnames[: builder.__code__.co_argcount]
    extra: dict[str, Any] = {"suspend": False} if "suspend" in builder.__code__.co_varnames else {}
    args = (_sample_job(), runtime)[: len(parameters)]
    manifest: dict[str, Any] = builder(*args, **extra)
    return manifest


def _resource(path: str) -> tuple[str, str]:
    """(group, resource[/subresource]) of an API path."""
    parts = path.strip("/").split("/")
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[parts.index("namespaces") + 2 :] if "namespaces" in parts else parts[-1:]
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    return group, resource


def _target(node: ast.expr) -> tuple[str, str]:
    """(group, resource) of the first argument of a KubeClient call: a builder's manifest or
    a path helper of finetune_operator.kube, evaluated with placeholder names."""
    assert isinstance(node, ast.Call), ast.unparse(node)
    name = node.func.attr if isinstance(node.func, ast.Attribute) else ast.unparse(node.func)
    if name.startswith("build_"):
        return _resource(kube.collection_path(_build(name)))
    keywords = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
    helper = getattr(kube, name)
    placeholders = ("ns", "name")[: helper.__code__.co_argcount]  # a collection: no name
    return _resource(helper(*placeholders, **keywords))


def _peering(node: ast.AST) -> set[Access]:
    """Kopf's peering, from an assignment ``settings.peering.clusterwide = <bool>``: the code
    never calls the peering API itself, Kopf does once the settings name a peering."""
    if not isinstance(node, ast.Assign) or len(node.targets) != 1:
        return set()
    target = ast.unparse(node.targets[0])
    if not target.endswith("settings.peering.clusterwide"):
        return set()
    plural = "clusterkopfpeerings" if ast.literal_eval(node.value) else "kopfpeerings"
    return {(PEERING_GROUP, plural, verb) for verb in KOPF_PEERING}


def calls_in_code() -> set[Access]:
    """Every API access the operator's code makes, collected from its source: Kopf decorators
    (daemon, index, on.event), kopf.event, Kopf's peering (from the settings that enable it),
    and calls of the KubeClient's create/merge_patch/delete."""
    found: set[Access] = set()
    for source in OPERATOR.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            found |= _peering(node)
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner, method = ast.unparse(node.func.value), node.func.attr
            if owner == "kopf" and method == "daemon":
                found |= {(GROUP, PLURAL, verb) for verb in KOPF_DAEMON}
            elif owner == "kopf.on" and method == "event":
                found |= {(GROUP, PLURAL, verb) for verb in KOPF_INDEX}
            elif owner == "kopf" and method == "index":
                # kopf.index("batch", "v1", "jobs") or, for the core group, ("v1", "pods")
                names = [ast.literal_eval(a) for a in node.args]
                group, plural = ("", names[1]) if len(names) == 2 else (names[0], names[2])
                found |= {(group, plural, verb) for verb in KOPF_INDEX}
            elif owner == "kopf" and method == "event":
                found.add(("", "events", "create"))
            elif owner.endswith("kube") and method in CLIENT_VERBS and node.args:
                group, resource = _target(node.args[0])
                found |= {(group, resource, verb) for verb in CLIENT_VERBS[method]}
    return found


def granted_access(section: str) -> set[Access]:
    return {
        (group, resource, verb)
        for rule in RULES[section]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_collector_sees_every_kind_of_call() -> None:
    """Guards the collector itself: if a refactor hides calls from it, this fails first."""
    calls = calls_in_code()
    assert ("batch", "jobs", "create") in calls  # a builder's manifest
    assert ("batch", "jobs", "patch") in calls  # merge_patch(job_path(...))
    assert ("finetune.dev", "finetunejobs/status", "patch") in calls  # status=True
    assert ("finetune.dev", "finetunejobs", "delete") in calls  # TTL
    assert ("", "pods", "watch") in calls  # an index with the core group "v1"
    assert ("", "events", "create") in calls
    assert (PEERING_GROUP, "clusterkopfpeerings", "patch") in calls  # settings.peering


def peering_calls() -> set[Access]:
    return {access for access in calls_in_code() if access[0] == PEERING_GROUP}


def test_namespaced_rules_are_exactly_the_calls_the_code_makes() -> None:
    """No verb the operator never uses, and none it uses missing."""
    calls = calls_in_code() - peering_calls()
    granted = granted_access("namespaced")
    assert granted - calls - NOT_CALLS == set(), "granted but never called"
    assert calls - granted == set(), "called but not granted"


def test_peering_rules_are_exactly_what_kopf_peering_needs() -> None:
    """The peering is cluster-wide (one ClusterKopfPeering), so its rules are bound by their own
    ClusterRole, in every mode of the chart."""
    assert granted_access("peering") == peering_calls()


def test_configmaps_are_never_patched_or_deleted() -> None:
    """A cluster-wide patch or delete on ConfigMaps would reach every tenant's configuration."""
    for section in RULES:
        verbs = {v for g, r, v in granted_access(section) if (g, r) == ("", "configmaps")}
        assert not verbs & {"patch", "update", "delete", "deletecollection"}, section
