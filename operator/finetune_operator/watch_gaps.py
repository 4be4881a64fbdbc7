"""What the operator still holds after the apiserver deleted it while a watch was broken.

Kopf lists again when a watch breaks (410 Gone, an apiserver restart, a lost connection) and
sends no DELETED for the objects removed in the gap. Its indexes keep those children, and the
daemon of a FineTuneJob deleted in the gap keeps running. A stale training Job would hold a
``--max-running-per-namespace`` slot for ever, a stale pod's IP would be polled, and a group
restart would wait for a Job that is already gone.

So every ``--audit-interval`` seconds, per namespace, one job loop lists what the apiserver has
(Jobs and pods by the operator's label, as the watches select them, and FineTuneJobs) and
:class:`WatchGaps` sets aside whatever the operator held before that list but the list lacks.
UIDs are never reused, so an object set aside never comes back; the set is replaced by each
audit, so it stays as small as the indexes' leftovers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar


class JobVanished(Exception):
    """The FineTuneJob of this loop was deleted while a watch was broken: no DELETED came."""


class HasUid(Protocol):
    @property
    def uid(self) -> str: ...


State = TypeVar("State", bound=HasUid)
Key = tuple[str, str]
"""(namespace, FineTuneJob name), the indexes' key."""


def held_uids(index: Mapping[Key, Iterable[HasUid]], namespace: str) -> set[str]:
    """UIDs of the objects an index holds for the jobs of ``namespace``."""
    return {state.uid for key, states in index.items() if key[0] == namespace for state in states}


@dataclass
class WatchGaps:
    """UIDs per namespace that the operator holds but the apiserver no longer has."""

    interval: float
    """Seconds between two audits of a namespace."""
    followed: dict[str, str] = field(default_factory=dict)
    """UID -> namespace of every FineTuneJob this process runs a loop for."""
    vanished: dict[str, frozenset[str]] = field(default_factory=dict)
    audited_at: dict[str, float] = field(default_factory=dict)
    """Monotonic time of each namespace's last completed audit."""
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    """One audit of a namespace at a time: its many loops find it due together."""

    def due(self, namespace: str, now: float) -> bool:
        last = self.audited_at.get(namespace)
        return last is None or now - last >= self.interval

    def followed_in(self, namespace: str) -> set[str]:
        return {uid for uid, ns in self.followed.items() if ns == namespace}

    def record(self, namespace: str, held: set[str], listed: set[str], now: float) -> set[str]:
        """Settle an audit: ``held`` is what the operator had before the list was taken,
        ``listed`` what the list returned. Returns the UIDs newly found vanished."""
        before = self.vanished.get(namespace, frozenset())
        self.vanished[namespace] = frozenset(held - listed)
        self.audited_at[namespace] = now
        return set(self.vanished[namespace] - before)

    def gone(self, namespace: str, uid: str) -> bool:
        return uid in self.vanished.get(namespace, frozenset())

    def live(self, namespace: str, states: Iterable[State]) -> list[State]:
        """``states`` without those the apiserver no longer has."""
        vanished = self.vanished.get(namespace, frozenset())
        return [state for state in states if state.uid not in vanished]


class LiveIndex(Mapping[Key, Sequence[State]]):
    """A Kopf index seen without the entries :class:`WatchGaps` set aside."""

    def __init__(self, index: Mapping[Key, Iterable[State]], gaps: WatchGaps) -> None:
        self._index = index
        self._gaps = gaps

    def __getitem__(self, key: Key) -> Sequence[State]:
        return self._gaps.live(key[0], self._index[key])

    def __iter__(self) -> Iterator[Key]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)
