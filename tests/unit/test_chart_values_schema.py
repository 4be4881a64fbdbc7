"""The chart's values.schema.json accepts the shipped defaults and rejects bad values.

Helm validates values against this schema on install, upgrade, lint and template, so a bad value
fails before anything reaches the cluster; these tests pin what "bad" means.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

CHART = Path(__file__).resolve().parents[2] / "helm" / "finetune-operator"
SCHEMA = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
DEFAULTS: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
VALIDATOR = Draft7Validator(SCHEMA)


def with_value(path: str, value: Any) -> dict[str, Any]:
    """The defaults with one dotted key set (or removed when value is DELETE)."""
    values = copy.deepcopy(DEFAULTS)
    *parents, leaf = path.split(".")
    node = values
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return values


DELETE = object()


def test_schema_is_valid_draft7() -> None:
    Draft7Validator.check_schema(SCHEMA)


def test_defaults_are_accepted() -> None:
    assert list(VALIDATOR.iter_errors(DEFAULTS)) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("logLevel", "debug"),
        ("logLevel", "error"),
        ("image.tag", "0.2.0-rc.1"),
        ("image.digest", "sha256:" + "a" * 64),
        ("image.repository", "localhost:5000/team/finetune-operator"),
        ("trainer.image", "registry.example.com:8443/ml/trainer:1.2.3@sha256:" + "0" * 64),
        ("trainer.allowedImages", ["registry.example.com/ml/trainer:*", "trainer:2.0"]),
        ("watchNamespaces", ["team-a", "team-b"]),
        ("watchNamespaces", ["team-*", "!team-secret"]),
        ("maxRunningPerNamespace", 4),
        ("defaultS3Endpoint", "http://seaweedfs.storage.svc:8333"),
        ("defaultS3Endpoint", "https://s3.eu-west-1.amazonaws.com"),
        ("hfEndpoint", "https://hub-mirror.example/hf"),
        ("resources", {"requests": {"cpu": 0.5, "memory": "300Mi"}}),
        ("imagePullSecrets", ["regcred"]),
        ("metrics.serviceMonitor", {"enabled": True, "interval": "1m30s", "labels": {"a": "b"}}),
        (
            "metrics.grafanaDashboard",
            {"enabled": True, "namespace": "monitoring", "annotations": {"grafana_folder": "ML"}},
        ),
        ("networkPolicy", {"enabled": True, "extraEgress": [{"ports": [{"port": 8333}]}]}),
        ("serviceAccount", {"create": False, "name": "platform-operator"}),
        ("global", {"imageRegistry": "mirror.example.com"}),
        ("trainer.terminationGracePeriodSeconds", 1800),
        ("blockedPodTimeoutSeconds", 1800),
        ("requireSecretRef", False),
        ("allowedS3Endpoints", ["http://minio.team-a.svc:9000", "https://s3.example.com/base"]),
        ("allowedS3Endpoints", ["*"]),
        ("trainer.defaultRequests", {"cpu": "2", "memory": "8Gi"}),
        ("trainer.defaultRequests", {"cpu": "", "memory": ""}),
        ("trainer.defaultRequests", {"cpu": 1, "memory": "1Gi"}),
        ("trainer.shmSizeLimit", "16Gi"),
        ("trainer.scratchSizeLimit", ""),
        ("replicaCount", 2),
        ("peering", {"enabled": False, "lifetimeSeconds": 60}),
    ],
)
def test_good_values_are_accepted(path: str, value: Any) -> None:
    assert list(VALIDATOR.iter_errors(with_value(path, value))) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("logLevel", "verbose"),
        ("logLevel", "INFO"),
        ("logLevel", 3),
        ("image.repository", "Not A Repo"),
        ("image.repository", ""),
        ("image.tag", "bad tag"),
        ("image.digest", "sha256:short"),
        ("image.pullPolicy", "Sometimes"),
        ("image", DELETE),
        ("trainer.image", ""),
        ("trainer.image", "UPPERCASE/trainer:1"),
        ("trainer.image", "trainer:tag with space"),
        ("trainer.image", DELETE),
        ("trainer.allowedImages", "ghcr.io/x/trainer:*"),
        ("trainer.allowedImages", ["*"]),
        ("trainer.allowedImages", ["a:1", "a:1"]),
        ("watchNamespaces", "team-a"),
        ("watchNamespaces", ["Team_A"]),
        ("watchNamespaces", [""]),
        ("watchNamespaces", ["a" * 64]),
        ("maxRunningPerNamespace", -1),
        ("maxRunningPerNamespace", 1.5),
        ("maxRunningPerNamespace", "4"),
        ("defaultS3Endpoint", "s3.example.com"),
        ("defaultS3Endpoint", "ftp://s3.example.com"),
        ("hfEndpoint", "huggingface.co"),
        ("terminationGracePeriodSeconds", -5),
        ("livenessPort", 0),
        ("livenessPort", 70000),
        ("metrics.port", "9090"),
        ("metrics.service.type", "ExternalName"),
        ("metrics.serviceMonitor.enabled", "yes"),
        ("metrics.serviceMonitor.interval", "30"),
        ("metrics.grafanaDashboard.enabled", "yes"),
        ("metrics.grafanaDashboard.namespace", "Monitoring"),
        ("metrics.grafanaDashboard", DELETE),
        ("networkPolicy.enabled", "true"),
        ("networkPolicy.apiServerPorts", []),
        ("serviceAccount.create", "true"),
        ("rbac.create", None),
        ("resources", {"requests": {"cpu": ["1"]}}),
        ("nodeSelector", {"gpu": True}),
        ("trainer.terminationGracePeriodSeconds", -1),
        ("trainer.terminationGracePeriodSeconds", "300"),
        ("blockedPodTimeoutSeconds", 0),
        ("blockedPodTimeoutSeconds", 1.5),
        ("unknownKey", 1),
        ("trainer.unknownKey", 1),
        ("requireSecretRef", "true"),
        ("requireSecretRef", DELETE),
        ("allowedS3Endpoints", "http://minio:9000"),
        ("allowedS3Endpoints", ["minio:9000"]),
        ("allowedS3Endpoints", ["http://a", "http://a"]),
        ("trainer.defaultRequests", {"cpu": -1, "memory": "1Gi"}),
        ("trainer.defaultRequests", {"cpu": "1", "memory": "1GB"}),
        ("trainer.defaultRequests", {"cpu": "1"}),
        ("trainer.shmSizeLimit", "lots"),
        ("trainer.scratchSizeLimit", DELETE),
        ("replicaCount", 0),
        ("peering.lifetimeSeconds", 5),
        ("peering.enabled", "yes"),
    ],
)
def test_bad_values_are_rejected(path: str, value: Any) -> None:
    assert list(VALIDATOR.iter_errors(with_value(path, value))) != []


def test_two_replicas_need_peering() -> None:
    """Two standalone replicas would both act on every job."""
    values = with_value("replicaCount", 2)
    values["peering"]["enabled"] = False
    assert list(VALIDATOR.iter_errors(values)) != []
    assert list(VALIDATOR.iter_errors(with_value("peering.enabled", False))) == []
