"""The Helm chart: lint, render, and have the real apiserver accept what it renders.

Uses the helm and kubectl that devcluster/gobuild/build.sh builds (the versions the project
pins), never whatever happens to be on PATH.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from devcluster import controlplane
from devcluster.settings import Settings
from devcluster.stack import Cluster
from tests.e2e.operator_env import PEERING_CRDS, crd, peering_crds

pytestmark = pytest.mark.e2e
# fixtures used by name: `auth can-i` and dry runs resolve only known resource types
__all__ = ["crd", "peering_crds"]

CHART = Path(__file__).resolve().parents[2] / "helm" / "finetune-operator"
KUBE_VERSION = "1.30.0"
DEFAULT_TRAINER = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))["trainer"][
    "image"
]

# name -> values; each exercises one branch of the templates.
CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaces": {"watchNamespaces": ["team-a", "team-b"]},
    "patterns": {"watchNamespaces": ["team-*", "!team-secret"]},
    "everything": {
        "trainer": {"allowedImages": ["registry.example.com/ml/*"]},
        "defaultS3Endpoint": "http://s3.example.com:8333",
        "requireSecretRef": False,
        "allowedS3Endpoints": ["http://minio.team-a.svc:9000"],
        "maxRunningPerNamespace": 2,
        "logLevel": "debug",
        "metrics": {
            "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
            "grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "ML"}},
        },
        "networkPolicy": {"enabled": True},
        "imagePullSecrets": ["regcred"],
        "replicaCount": 2,
    },
    "standalone": {"peering": {"enabled": False, "lifetimeSeconds": 30}},
}


@pytest.fixture(scope="module")
def bins(testenv_settings: Settings) -> Path:
    return controlplane.bin_dir(testenv_settings)


def run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def helm_template(bins: Path, *args: str, release: str = "ft") -> subprocess.CompletedProcess[str]:
    """`helm template` of the chart for the oldest Kubernetes it supports.

    Without a cluster, helm assumes Kubernetes 1.20 and the chart's kubeVersion refuses that.
    """
    argv = ["template", release, str(CHART), "--kube-version", KUBE_VERSION, *args]
    return run([str(bins / "helm"), *argv])


def write_values(tmp_path: Path, values: dict[str, Any]) -> str:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values), encoding="utf-8")
    return str(values_file)


def render(bins: Path, tmp_path: Path, values: dict[str, Any], *extra: str) -> list[dict[str, Any]]:
    values_file = write_values(tmp_path, values)
    result = helm_template(bins, "--namespace", "ft-system", "-f", values_file, *extra)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def flag(args: list[str], name: str) -> list[str]:
    """Every value given to --name=VALUE, in order."""
    prefix = f"--{name}="
    return [arg.removeprefix(prefix) for arg in args if arg.startswith(prefix)]


def test_lint(bins: Path, tmp_path: Path) -> None:
    for name, values in CASES.items():
        values_file = write_values(tmp_path, values)
        result = run([str(bins / "helm"), "lint", "--strict", str(CHART), "-f", values_file])
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_crd_comes_from_the_one_source(bins: Path, tmp_path: Path) -> None:
    """The FineTuneJob CRD is crds/finetunejob.yaml; the others are Kopf's peering CRDs."""
    crds = of_kind(render(bins, tmp_path, {}, "--include-crds"), "CustomResourceDefinition")
    source = yaml.safe_load((CHART.parents[1] / "crds" / "finetunejob.yaml").read_text())
    peering = list(yaml.safe_load_all(PEERING_CRDS.read_text()))
    assert sorted(crds, key=lambda c: c["metadata"]["name"]) == sorted(
        [source, *peering], key=lambda c: c["metadata"]["name"]
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("defaults", {"ClusterRole": 3, "ClusterRoleBinding": 3, "ClusterKopfPeering": 1}),
        (
            "namespaces",
            {
                "ClusterRole": 2,
                "ClusterRoleBinding": 2,
                "Role": 2,
                "RoleBinding": 2,
                "ClusterKopfPeering": 1,
            },
        ),
        ("patterns", {"ClusterRole": 3, "ClusterRoleBinding": 3, "ClusterKopfPeering": 1}),
        (
            "everything",
            {
                "ClusterRole": 3,
                "ClusterRoleBinding": 3,
                "ClusterKopfPeering": 1,
                "ServiceMonitor": 1,
                "NetworkPolicy": 1,
                "ConfigMap": 1,
            },
        ),
        ("standalone", {"ClusterRole": 2, "ClusterRoleBinding": 2}),
    ],
)
def test_rendered_kinds(bins: Path, tmp_path: Path, case: str, expected: dict[str, int]) -> None:
    kinds = Counter(doc["kind"] for doc in render(bins, tmp_path, CASES[case]))
    assert kinds == Counter({"ServiceAccount": 1, "Deployment": 1, "Service": 1, **expected})


def test_grafana_dashboard_for_the_sidecar(bins: Path, tmp_path: Path) -> None:
    (config_map,) = of_kind(render(bins, tmp_path, CASES["everything"]), "ConfigMap")
    metadata = config_map["metadata"]
    assert metadata["labels"]["grafana_dashboard"] == "1"
    assert metadata["annotations"] == {"grafana_folder": "ML"}
    dashboard = json.loads(config_map["data"]["finetune-operator.json"])
    assert dashboard == json.loads((CHART / "files" / "grafana-dashboard.json").read_text())


@pytest.mark.parametrize("case", CASES)
def test_rbac_is_least_privilege(bins: Path, tmp_path: Path, case: str) -> None:
    docs = render(bins, tmp_path, CASES[case])
    roles = of_kind(docs, "ClusterRole") + of_kind(docs, "Role")
    resources = set()
    for role in roles:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in "".join(rule[field]), role["metadata"]["name"]
            resources |= set(rule["resources"])
    assert "secrets" not in resources
    assert ("namespaces" in resources) == (case == "patterns")
    for role in of_kind(docs, "Role"):
        assert role["metadata"]["namespace"] in CASES[case]["watchNamespaces"]


@pytest.mark.parametrize("case", CASES)
def test_deployment(bins: Path, tmp_path: Path, case: str) -> None:
    values = CASES[case]
    (deployment,) = of_kind(render(bins, tmp_path, values), "Deployment")
    spec = deployment["spec"]
    peering = values.get("peering", {}).get("enabled", True)
    assert spec["replicas"] == values.get("replicaCount", 1)
    if peering:
        # The new pod waits (younger: lower priority) until the old one exits and hands over.
        assert spec["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }
    else:
        assert spec["strategy"] == {"type": "Recreate"}
    (container,) = spec["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}

    args = container["args"]
    assert flag(args, "namespace") == values.get("watchNamespaces", [])
    allowed = values.get("trainer", {}).get("allowedImages", [])
    assert flag(args, "allowed-image") == [DEFAULT_TRAINER, *allowed]
    assert flag(args, "trainer-image") == [DEFAULT_TRAINER]
    assert flag(args, "max-running-per-namespace") == [str(values.get("maxRunningPerNamespace", 0))]
    assert flag(args, "log-level") == [values.get("logLevel", "info")]
    assert flag(args, "metrics-port") == ["9090"]
    assert flag(args, "liveness-port") == ["8080"]
    endpoint = values.get("defaultS3Endpoint")
    assert flag(args, "default-s3-endpoint") == ([endpoint] if endpoint else [])
    assert flag(args, "require-secret-ref") == [str(values.get("requireSecretRef", True)).lower()]
    assert flag(args, "allowed-s3-endpoint") == values.get("allowedS3Endpoints", [])
    assert flag(args, "default-cpu-request") == ["500m"]
    assert flag(args, "default-memory-request") == ["1Gi"]
    assert flag(args, "shm-size-limit") == ["2Gi"]
    assert flag(args, "scratch-size-limit") == ["100Gi"]
    assert flag(args, "peering") == (["ft-system.ft-finetune-operator"] if peering else [])
    assert flag(args, "peering-lifetime") == (["30"] if peering else [])
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_two_replicas_without_peering_are_refused(bins: Path) -> None:
    result = helm_template(bins, "--set", "replicaCount=2", "--set", "peering.enabled=false")
    assert result.returncode != 0


@pytest.mark.parametrize(
    "bad", ["logLevel=verbose", "maxRunningPerNamespace=-1", "trainer.image=Not An Image"]
)
def test_schema_is_enforced_by_helm(bins: Path, bad: str) -> None:
    result = helm_template(bins, "--set", bad)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr


@pytest.mark.namespace_labels({"pod-security.kubernetes.io/warn": "restricted"})
@pytest.mark.parametrize("case", ["defaults", "namespaces-here"])
@pytest.mark.usefixtures("peering_crds")  # the ClusterKopfPeering's kind must be known
def test_apiserver_accepts_rendered_objects(
    bins: Path, tmp_path: Path, cluster: Cluster, namespace: str, case: str
) -> None:
    """Server-side dry run of everything the chart renders (CRD included) into a real apiserver.

    ServiceMonitor is left out: its CRD belongs to the Prometheus Operator, absent here.
    """
    values: dict[str, Any] = {"networkPolicy": {"enabled": True}}
    if case == "namespaces-here":
        values["watchNamespaces"] = [namespace]
    values_file = write_values(tmp_path, values)
    rendered = helm_template(bins, "--namespace", namespace, "--include-crds", "-f", values_file)
    assert rendered.returncode == 0, rendered.stderr
    applied = run(
        [
            str(bins / "kubectl"),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager=chart-test",
            # A release already installed here (make demo) owns the same cluster-scoped objects;
            # this dry run asks only whether the apiserver accepts them.
            "--force-conflicts",
            "-o",
            "name",
            "-f",
            "-",
        ],
        stdin=rendered.stdout,
    )
    assert applied.returncode == 0, applied.stderr
    # `-o name` prints kind.group/name per object.
    kinds = {line.split("/")[0].split(".")[0] for line in applied.stdout.splitlines()}
    assert {
        "deployment",
        "serviceaccount",
        "service",
        "networkpolicy",
        "customresourcedefinition",
        "clusterrole",
        "clusterrolebinding",
        "clusterkopfpeering",
    } <= kinds
    # The namespace warns on Pod Security "restricted" violations; the operator pod has none.
    assert "would violate PodSecurity" not in applied.stderr


# (verb, resource, subresource) the operator must be able to use in a watched namespace.
NEEDED = [
    ("watch", "finetunejobs.finetune.dev", ""),
    ("patch", "finetunejobs.finetune.dev", ""),
    ("delete", "finetunejobs.finetune.dev", ""),
    ("patch", "finetunejobs.finetune.dev", "status"),
    ("create", "jobs.batch", ""),
    ("delete", "jobs.batch", ""),
    ("create", "configmaps", ""),
    ("create", "services", ""),
    ("watch", "pods", ""),
    ("create", "events", ""),
]
FORBIDDEN = [
    ("get", "secrets", ""),
    ("list", "secrets", ""),
    ("watch", "secrets", ""),
    ("create", "pods", ""),
    ("create", "pods", "exec"),
    ("update", "finetunejobs.finetune.dev", ""),
    ("create", "roles.rbac.authorization.k8s.io", ""),
    ("patch", "configmaps", ""),
    ("delete", "configmaps", ""),
    ("update", "jobs.batch", ""),
]


@pytest.mark.usefixtures("peering_crds")
def test_real_authorizer_agrees_with_least_privilege(
    bins: Path, tmp_path: Path, cluster: Cluster, namespace: str, crd: str
) -> None:
    """Bind the chart's RBAC (one watched namespace) for real and ask the apiserver's authorizer
    what the operator's ServiceAccount may do there, elsewhere, and cluster-wide."""
    values_file = write_values(tmp_path, {"watchNamespaces": [namespace]})
    # The namespace as release name keeps the cluster-scoped ClusterRole's name unique.
    rbac = helm_template(
        bins,
        "--namespace",
        namespace,
        "-f",
        values_file,
        "--show-only",
        "templates/rbac.yaml",
        "--show-only",
        "templates/serviceaccount.yaml",
        release=namespace,
    )
    assert rbac.returncode == 0, rbac.stderr
    kubectl = [str(bins / "kubectl"), "--kubeconfig", str(cluster.kubeconfig)]
    manifests = tmp_path / "rbac.yaml"
    manifests.write_text(rbac.stdout, encoding="utf-8")
    applied = run([*kubectl, "apply", "-f", str(manifests)])
    assert applied.returncode == 0, applied.stderr
    try:
        operator = f"system:serviceaccount:{namespace}:{namespace}-finetune-operator"

        def can(verb: str, resource: str, subresource: str, where: list[str]) -> bool:
            argv = [*kubectl, "auth", "can-i", verb, resource, f"--as={operator}", *where]
            if subresource:
                argv.append(f"--subresource={subresource}")
            return run(argv).stdout.strip() == "yes"

        here, elsewhere = ["-n", namespace], ["-n", "default"]

        def violations() -> list[str]:
            found = []
            for verb, resource, sub in NEEDED:
                if not can(verb, resource, sub, here):
                    found.append(f"cannot {verb} {resource}/{sub}")
                if can(verb, resource, sub, elsewhere):
                    found.append(f"may {verb} {resource} elsewhere")
            found += [
                f"may {verb} {resource}/{sub}"
                for verb, resource, sub in FORBIDDEN
                if can(verb, resource, sub, here)
            ]
            if not can("list", "customresourcedefinitions.apiextensions.k8s.io", "", []):
                found.append("cannot list customresourcedefinitions")
            if can("list", "namespaces", "", []):
                found.append("may list namespaces")
            for verb in ("list", "watch", "patch"):
                if not can(verb, "clusterkopfpeerings.kopf.dev", "", []):
                    found.append(f"cannot {verb} clusterkopfpeerings")
            if can("delete", "clusterkopfpeerings.kopf.dev", "", []):
                found.append("may delete clusterkopfpeerings")
            return found

        # The RBAC authorizer learns new Roles and bindings through watches: a missing grant
        # may be only late, so look again for a while before calling it a failure.
        deadline = time.monotonic() + 30
        while (found := violations()) and time.monotonic() < deadline:
            time.sleep(1)
        assert not found, found
    finally:
        # The namespace fixture removes the Role; the CRD-scanning ClusterRole is cluster-scoped.
        run([*kubectl, "delete", "--ignore-not-found", "-f", str(manifests)])
