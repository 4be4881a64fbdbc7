"""Session fixtures shared by every test: the local control plane and S3.

Fixtures start what they need lazily and reuse what is running (`make cluster-up`, or another
pytest session); what a session started is stopped by the last session to finish
(devcluster/sharing.py). See devcluster/README.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from devcluster import s3 as s3_server
from devcluster import sharing, stack
from devcluster.settings import Settings
from devcluster.stack import Cluster

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


@pytest.fixture(scope="session")
def testenv_settings() -> Settings:
    """Ports, paths and credentials of the local control plane (env-overridable)."""
    return Settings.from_env()


@pytest.fixture(scope="session")
def s3(testenv_settings: Settings) -> Iterator[s3_server.S3Endpoint]:
    """The local SeaweedFS S3: ``url``, ``access_key``, ``secret_key``, ``client()``, ``env()``.

    Needs no Kubernetes, so trainer tests can use it alone.
    """

    def start() -> list[str]:
        return [s3_server.NAME] if s3_server.up(testenv_settings) else []

    def stop(owned: list[str]) -> None:
        stack.down(testenv_settings, only=owned)

    with sharing.shared(testenv_settings, "s3", start, stop):
        yield s3_server.endpoint(testenv_settings)


@pytest.fixture(scope="session")
def cluster(testenv_settings: Settings, s3: s3_server.S3Endpoint) -> Iterator[Cluster]:
    """The whole local control plane, ready (node Ready, default ServiceAccount present)."""

    def stop(owned: list[str]) -> None:
        stack.down(testenv_settings, only=owned)

    with sharing.shared(testenv_settings, "cluster", lambda: stack.up(testenv_settings), stop):
        yield stack.Cluster(testenv_settings, s3)


@pytest.fixture(scope="session")
def kube(cluster: Cluster) -> ApiClient:
    """A ``kubernetes.client.ApiClient`` authenticated as cluster admin."""
    return cluster.api_client()


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards.

    Labels come from ``@pytest.mark.namespace_labels({...})``, e.g. PodSecurity enforcement.
    """
    marker = request.node.get_closest_marker("namespace_labels")
    labels: dict[str, str] = dict(marker.args[0]) if marker else {}
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.create_namespace(name, labels)
    yield name
    cluster.delete_namespace(name)
