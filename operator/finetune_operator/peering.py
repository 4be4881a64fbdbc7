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

import kopf


def priority(started_ns: int) -> int:
    """The peering priority of an operator started at ``started_ns`` (ns since the epoch):
    earlier is higher. Microseconds, negated: unique in practice, and exact as a JSON number
    (|value| < 2**53) on every client that reads the peering object."""
    return -(started_ns // 1000)


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
