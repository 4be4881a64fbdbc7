"""Peering settings: standalone without a name; with one, mandatory cluster-wide peering in
which the replica started first has the highest priority."""

from __future__ import annotations

import kopf

from finetune_operator import peering

SECOND = 1_000_000_000


def test_without_a_name_the_operator_runs_standalone() -> None:
    settings = kopf.OperatorSettings()
    peering.configure(settings, "", 30, 0)
    assert settings.peering.standalone


def test_with_a_name_peering_is_mandatory_and_cluster_wide() -> None:
    """Mandatory: paused until the peering object is seen, so a replica never acts before it
    knows its peers. Cluster-wide even when only some namespaces are watched."""
    settings = kopf.OperatorSettings()
    settings.peering.clusterwide = False  # what kopf.run sets for --namespace
    peering.configure(settings, "ft-system.ft", 20, 1_764_000_000 * SECOND)
    assert not settings.peering.standalone
    assert settings.peering.mandatory
    assert settings.peering.clusterwide
    assert settings.peering.name == "ft-system.ft"
    assert settings.peering.lifetime == 20
    assert settings.peering.priority == peering.priority(1_764_000_000 * SECOND)


def test_the_replica_started_first_has_the_highest_priority() -> None:
    now = 1_764_000_000 * SECOND
    first, second = peering.priority(now), peering.priority(now + 1000)  # 1 µs later
    assert first > second
    # Kopf's dev mode (--dev, priority 666) still wins over every deployed replica.
    assert first < 666
    # Exact as a JSON number, for a century to come.
    assert abs(peering.priority(now + 100 * 365 * 24 * 3600 * SECOND)) < 2**53


def test_a_peered_replica_waits_out_the_settle_time_before_its_first_pass() -> None:
    """Long enough for a replica started in the same instant to be seen; none standalone."""
    assert peering.settle_left("ft", started=100.0, now=100.0) == peering.SETTLE_SECONDS
    assert peering.settle_left("ft", started=100.0, now=104.0) == peering.SETTLE_SECONDS - 4
    assert peering.settle_left("ft", started=100.0, now=100.0 + peering.SETTLE_SECONDS) == 0
    assert peering.settle_left("", started=100.0, now=100.0) == 0
