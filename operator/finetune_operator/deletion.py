"""Deletion without a finalizer: the garbage collector cleans up, the loop stops itself.

Kopf puts a finalizer on every object a daemon follows and removes it only once the daemon has
exited, so that no daemon outlives its object (nolar/kopf#896: the maintainer keeps that for
daemons and timers by design). For FineTuneJobs that finalizer does more harm than good: with
the operator down or uninstalled, deleting a job, or its namespace, hangs until someone removes
it by hand. Nothing needs it: every child (ConfigMap, Service, Jobs and through them the pods)
carries a controller ownerReference to the FineTuneJob, so the garbage collector deletes them;
nothing outside the cluster is deleted with a job (its S3 output stays by design); the
concurrency slot of a deleted job frees itself as its training Job goes away.

So the daemon is registered finalizer-free (:func:`register_without_finalizer`) and Kopf then
also removes the finalizer that older operators left on existing jobs, the first time it sees
each one. What the finalizer did for the daemon, :class:`Deletions` does instead: Kopf still
stops a daemon when ``deletionTimestamp`` appears (a foreground deletion, another controller's
finalizer), but an object without finalizers goes at once and only a DELETED watch event says
so; that event marks the job's UID, and the loop, which waits on both, ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import kopf


def register_without_finalizer(registry: kopf.OperatorRegistry, fn: Callable[..., Any]) -> None:
    """Make the daemon(s) of ``fn``, already registered by ``@kopf.daemon``, need no finalizer.

    Kopf has no public switch for this (``optional=True`` exists only for deletion handlers),
    so the handler is replaced by a copy with ``requires_finalizer=False``: the one flag Kopf
    consults (``SpawningRegistry.requires_finalizer``) before adding its finalizer, and the
    absence of which makes it remove one that is there. A unit test pins this to Kopf's
    behaviour, so an upgrade that changes it fails there, not in a cluster.
    """
    spawning = registry._spawning
    replaced = False
    for index, handler in enumerate(spawning._handlers):
        if handler.fn is fn:
            spawning._handlers[index] = dataclasses.replace(handler, requires_finalizer=False)
            replaced = True
    if not replaced:
        raise LookupError(f"{fn.__qualname__} is not registered as a daemon")


class Deletions:
    """FineTuneJobs (by UID) the watch stream reported DELETED, for their loops to end."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def event(self, uid: str) -> asyncio.Event:
        """The flag the loop of ``uid`` waits on; set once the object is gone."""
        return self._events.setdefault(uid, asyncio.Event())

    def deleted(self, uid: str) -> None:
        """The object is gone. Kopf may start its daemon after this event (an object created
        and deleted before the daemon started), so the flag is kept until :meth:`forget`."""
        self.event(uid).set()

    def forget(self, uid: str) -> None:
        """The loop of ``uid`` has ended."""
        self._events.pop(uid, None)

    def __len__(self) -> int:
        return len(self._events)


async def nap(stopped: kopf.DaemonStopped, gone: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if Kopf stops the daemon or the object is deleted."""
    if stopped or gone.is_set():
        return
    waiters = {
        asyncio.ensure_future(stopped.wait()),
        asyncio.ensure_future(gone.wait()),
    }
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
