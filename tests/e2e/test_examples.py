"""The example manifests are accepted as they are by a real apiserver with the FineTuneJob CRD."""

from __future__ import annotations

from pathlib import Path

import pytest
from devcluster.stack import Cluster
from tests.e2e.operator_env import crd

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
__all__ = ["crd"]  # fixture used by name

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "example", ["finetunejob-demo.yaml", "finetunejob-minimal.yaml", "s3-credentials-secret.yaml"]
)
def test_example_is_accepted(cluster: Cluster, namespace: str, crd: str, example: str) -> None:
    # Strict field validation: a misspelt field fails instead of being silently dropped.
    out = cluster.kubectl(
        "apply", "-n", namespace, "--dry-run=server", "--validate=strict", "-o", "name",
        "-f", str(EXAMPLES / example),
    )  # fmt: skip
    assert out.strip()
