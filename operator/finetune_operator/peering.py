"""Two or more operator replicas: Kopf peering, so that exactly one of them acts.

Kopf's peering (``docs/peering.rst``) pauses every operator that sees a live peer of higher
priority in the same peering object: its watch streams stop and its daemons are stopped, so a
paused replica reads nothing and writes nothing. Peers announce themselves by patching the
object's status every ``lifetime`` seconds (a little less); a peer not heard of for
``lifetime`` seconds counts as dead. An operator that exits cleanly removes its own entry at
once.

The priority is the start time, earliest highest (:func:`priority`): the replica that has run
longest keeps acting, a restarted or newly rolled-out replica waits as a standby instead of
taking over (which would mean a moment with both acting), and ties cannot pause everyone
(Kopf pauses all operators of equal priority).

The peering is cluster-wide (a ``ClusterKopfPeering``) even for an operator that watches only
some namespaces: one object for every mode of the chart, outside the tenants' namespaces, so no
tenant can delete or edit it; it holds no tenant data.
"""

from __future__ import annotations

import time

import kopf

SETTLE_SECONDS = 10.0
"""How long after its start a peered replica waits before its first pass. Replicas started in
the same instant may each resume before the other's first keep-alive reaches it; every replica
writes its keep-alive at once on start, so within this time the younger one has seen the older
one and been paused (its daemons stopped) before acting."""


def priority(started_ns: int) -> int:
    """The peering priority of an operator started at ``started_ns`` (ns since the epoch):
    earlier is higher. Microseconds, negated: unique in practice, and exact as a JSON number
    (|value| < 2**53) on every client that reads the peering object."""
    return -(started_ns // 1000)


def settle_left(name: str, started: float, now: float | None = None) -> float:
    """Seconds the first pass of a job must still wait (``started``, ``now``: monotonic); 0
    when running standalone (no ``name``)."""
    if not name:
        return 0.0
    now = time.monotonic() if now is None else now
    return max(0.0, started + SETTLE_SECONDS - now)


def configure(settings: kopf.OperatorSettings, name: str, lifetime: int, started_ns: int) -> None:
    """Join the cluster-wide peering ``name`` (mandatory: paused until it is seen), or run
    standalone when ``name`` is empty."""
    if not name:
        settings.peering.standalone = True
        return
    settings.peering.standalone = False
    settings.peering.mandatory = True
    settings.peering.clusterwide = True
    settings.peering.name = name
    settings.peering.priority = priority(started_ns)
    settings.peering.lifetime = lifetime
