"""Two operator replicas on the same namespace, coordinated by Kopf peering: only the one
started first acts; killed with SIGKILL, the other takes over within the peering lifetime and
the job finishes once."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from devcluster.stack import Cluster
from tests.e2e.operator_env import (
    crd,
    peering,
    peering_crds,
    peers,
    start_job,
    start_operator,
    wait_for,
    wait_for_step,
    wait_phase,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
__all__ = ["crd", "peering", "peering_crds", "start_job", "start_operator"]  # fixtures by name

LIFETIME = 10
"""--peering-lifetime of both replicas: a silent replica counts as dead after this long."""
RESUMED = "Resuming operations after the pause"
"""Kopf's log line when a replica starts acting (it starts paused under mandatory peering)."""


ACTION_DONE = re.compile(r"\b(create|delete|suspend|resume)-[a-z-]+ done")
"""The reconciler's log line after each child change it makes."""


def acted_on(log: str, namespace: str, name: str) -> bool:
    """Whether a replica's log has any line about the job (Kopf prefixes them with it)."""
    return f"[{namespace}/{name}]" in log


def test_only_one_replica_acts_and_the_other_takes_over(
    cluster: Cluster, namespace: str, peering: str, start_operator: Any, start_job: Any
) -> None:
    flags = ("--peering", peering, "--peering-lifetime", str(LIFETIME))
    first = start_operator(*flags)
    wait_for("the first replica active", lambda: RESUMED in first.output(), context=first.output)
    second = start_operator(*flags)
    wait_for("both replicas in the peering", lambda: len(peers(cluster, peering)) == 2)

    name = start_job("ha", {"steps": 60, "stepSeconds": 0.5})
    wait_phase(cluster, namespace, name, "Running")
    wait_for_step(cluster, namespace, name, 2)
    assert acted_on(first.output(), namespace, name)
    assert not acted_on(second.output(), namespace, name), second.output()
    assert RESUMED not in second.output(), "the younger replica waits"

    first.kill9()
    killed = time.monotonic()
    wait_for(
        "the second replica taking over",
        lambda: RESUMED in second.output(),
        # the dead replica's keep-alive expires, then the watch re-lists
        timeout=LIFETIME + 30,
        context=second.output,
    )
    took = time.monotonic() - killed
    assert took <= LIFETIME + 30
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed", timeout=120)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert done["status"]["attempts"] == 1
    assert acted_on(second.output(), namespace, name)
    assert len(peers(cluster, peering)) == 1, "the dead replica's entry is cleaned up"


def test_replicas_started_in_the_same_instant_never_both_act(
    cluster: Cluster, namespace: str, peering: str, start_operator: Any, start_job: Any
) -> None:
    """Both start at once with a job waiting: each may resume before the other's keep-alive
    reaches it, so each waits peering.SETTLE_SECONDS before its first pass, by which time the
    younger one is paused. Exactly one of them creates the children."""
    name = start_job("twins", {"steps": 4, "stepSeconds": 0.5})
    flags = ("--peering", peering, "--peering-lifetime", str(LIFETIME))
    replicas = [start_operator(*flags), start_operator(*flags)]
    done = wait_phase(cluster, namespace, name, "Succeeded", "Failed", timeout=150)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    creators = [r for r in replicas if "create-validation done" in r.output()]
    assert len(creators) == 1, [r.output()[-3000:] for r in replicas]
    other = replicas[1 - replicas.index(creators[0])]
    assert not ACTION_DONE.search(other.output()), other.output()[-3000:]
