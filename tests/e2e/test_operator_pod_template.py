"""spec.podTemplate end to end: a job with a ServiceAccount, an env var from a Secret, labels,
annotations and a node affinity that matches the node runs to Succeeded, and its pods carry
every one of them (the kubelet resolved the Secret key: a missing one would have
blocked the pods with CreateContainerConfigError; the scheduler honoured the affinity)."""

from __future__ import annotations

from typing import Any

import pytest
from devcluster.stack import Cluster
from tests.e2e.operator_env import (
    Operator,
    children,
    crd,
    operator,
    start_job,
    start_operator,
    wait_phase,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
__all__ = ["crd", "operator", "start_job", "start_operator"]  # fixtures used by name


def test_pods_carry_the_pod_template(
    cluster: Cluster, namespace: str, operator: Operator, start_job: Any
) -> None:
    core = f"/api/v1/namespaces/{namespace}"
    cluster.api.create(f"{core}/serviceaccounts", {"metadata": {"name": "trainer-identity"}})
    cluster.api.create(
        f"{core}/secrets",
        {"metadata": {"name": "team-settings"}, "stringData": {"greeting": "hello"}},
    )
    (node,) = cluster.api.get("/api/v1/nodes")["items"]
    hostname = node["metadata"]["labels"]["kubernetes.io/hostname"]
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "kubernetes.io/hostname",
                                "operator": "In",
                                "values": [hostname],
                            }
                        ]
                    }
                ]
            }
        }
    }
    greeting = {
        "name": "TEAM_GREETING",
        "valueFrom": {"secretKeyRef": {"name": "team-settings", "key": "greeting"}},
    }
    name = start_job(
        "templated",
        {"steps": 2, "stepSeconds": 1},
        podTemplate={
            "serviceAccountName": "trainer-identity",
            "env": [greeting],
            "affinity": affinity,
            "labels": {"cost-center": "ml-42"},
            "annotations": {"example.com/owner": "team-a"},
        },
    )
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed")
    assert done["status"]["phase"] == "Succeeded", done["status"]

    pods = children(cluster, namespace, name, "pods")
    assert {p["metadata"]["labels"]["finetune.dev/role"] for p in pods} == {"validate", "train"}
    for pod in pods:
        spec, metadata = pod["spec"], pod["metadata"]
        assert spec["serviceAccountName"] == "trainer-identity"
        assert spec["automountServiceAccountToken"] is True
        assert spec["affinity"] == affinity
        assert spec["nodeName"] == node["metadata"]["name"]
        assert greeting in spec["containers"][0]["env"]
        assert metadata["labels"]["cost-center"] == "ml-42"
        assert metadata["labels"]["finetune.dev/job"] == name  # the operator's own stay
        assert metadata["annotations"]["example.com/owner"] == "team-a"
