"""What Argo CD and Flux rely on (docs/gitops.md): the operator never writes a FineTuneJob's
spec, labels or annotations, so a synced manifest never drifts, and its summary conditions
(Ready, Reconciling, Stalled) say when a job is done, for kstatus and ``kubectl wait``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from devcluster.stack import Cluster
from tests.e2e.operator_env import (
    Operator,
    condition,
    crd,
    ftj_path,
    get_ftj,
    start_job,
    start_operator,
    wait_phase,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
__all__ = ["crd", "start_job", "start_operator"]  # fixtures used by name

# What the two tools put on the objects they sync (Argo CD's annotation tracking, its default
# label, Flux's kustomize-controller labels).
GITOPS_LABELS = {
    "app.kubernetes.io/instance": "team-a-training",
    "kustomize.toolkit.fluxcd.io/name": "training",
    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
}
GITOPS_ANNOTATIONS = {
    "argocd.argoproj.io/tracking-id": "training:finetune.dev/FineTuneJob:team-a/gitops",
    "argocd.argoproj.io/sync-options": "Replace=true",
}


def desired_state(body: dict[str, Any]) -> dict[str, Any]:
    """What a GitOps tool compares with Git, plus who wrote anything outside status."""
    metadata = body["metadata"]
    return {
        "labels": metadata.get("labels") or {},
        "annotations": metadata.get("annotations") or {},
        "finalizers": metadata.get("finalizers") or [],
        "generation": metadata["generation"],
        "spec": body["spec"],
        "writers": sorted(
            (m["manager"], m["operation"])
            for m in metadata.get("managedFields") or []
            if m.get("subresource") != "status"
        ),
    }


def test_operator_never_writes_spec_labels_or_annotations(
    cluster: Cluster,
    namespace: str,
    start_operator: Callable[..., Operator],
    start_job: Any,
) -> None:
    name = start_job(
        "gitops",
        {"steps": 4, "stepSeconds": 1},
        labels=GITOPS_LABELS,
        annotations=GITOPS_ANNOTATIONS,
    )
    before = desired_state(get_ftj(cluster, namespace, name))
    start_operator()
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed")
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert desired_state(done) == before
    assert before["labels"] == GITOPS_LABELS
    assert before["annotations"] == GITOPS_ANNOTATIONS

    # kstatus: Current (neither Reconciling nor Stalled, generation observed); kubectl: Ready.
    assert condition(done, "Ready")["status"] == "True"
    assert condition(done, "Reconciling")["status"] == "False"
    assert condition(done, "Stalled")["status"] == "False"
    assert done["status"]["observedGeneration"] == done["metadata"]["generation"]
    cluster.kubectl(
        "wait", "--for=condition=Ready", "--timeout=10s", "-n", namespace, f"ftj/{name}"
    )

    # A manifest edited in Git after the job finished (suspend is mutable): the finished job
    # acknowledges the generation and stays as it is.
    cluster.api.patch(
        ftj_path(namespace, name),
        {"spec": {"runPolicy": {"suspend": True}}},
        content_type="application/merge-patch+json",
    )
    cluster.kubectl(
        "wait",
        "--for=jsonpath={.status.observedGeneration}=2",
        "--timeout=90s",  # the loop of a finished job wakes once a minute
        "-n",
        namespace,
        f"ftj/{name}",
    )
    after = get_ftj(cluster, namespace, name)
    assert after["status"]["phase"] == "Succeeded"
    assert condition(after, "Ready")["status"] == "True"
