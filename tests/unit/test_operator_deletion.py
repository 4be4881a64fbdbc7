"""Deleting a FineTuneJob never waits for an operator: no handler needs Kopf's finalizer, Kopf
removes the one older operators left, and a job's loop ends on the DELETED event instead."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from kopf._cogs.aiokits.aioenums import AsyncFlagWaiter, FlagSetter
from kopf._cogs.structs import ephemera, finalizers, patches, references
from kopf._core.intents import causes
from tests.support.manifests import finetunejob

from finetune_api.resource import GROUP, PLURAL, VERSION
from finetune_operator import deletion, handlers

FINALIZER = f"{GROUP}/finalizer"
# The handlers as plain coroutine functions: Kopf's decorators type them as its callback
# protocols, which require every keyword Kopf passes.
follow: Any = handlers.follow
watched: Any = handlers.watched
RESOURCE = references.Resource(GROUP, VERSION, PLURAL, kind="FineTuneJob", namespaced=True)


def spawning_cause(body: kopf.Body) -> causes.SpawningCause:
    return causes.SpawningCause(
        logger=logging.getLogger(__name__),
        indices={},  # no index is read by the filter
        memo=ephemera.AnyMemo(kopf.Memo()),
        resource=RESOURCE,
        patch=patches.Patch(),
        body=body,
        reset=False,
    )


def job_body() -> kopf.Body:
    raw: Any = finetunejob("demo", "team-a", uid="u-1")
    return kopf.Body(raw)


def legacy_job() -> kopf.Body:
    raw: Any = finetunejob("demo", "team-a", uid="u-1")
    raw["metadata"]["finalizers"] = [FINALIZER]
    return kopf.Body(raw)


def test_no_handler_makes_kopf_add_a_finalizer() -> None:
    registry = kopf.get_default_registry()
    daemons = [h for h in registry._spawning.get_all_handlers() if h.fn is follow]
    assert daemons, "the per-job daemon is registered"
    assert not any(h.requires_finalizer for h in registry._spawning.get_all_handlers())
    assert not any(h.requires_finalizer for h in registry._changing.get_all_handlers())


def test_kopf_removes_the_finalizer_an_older_operator_left() -> None:
    """Kopf's processing removes its finalizer from an object exactly when the object carries it
    and no matching handler requires it ("Removing the finalizer, as there are no handlers
    requiring it", kopf/_core/reactor/processing.py): both hold for a job of an older
    operator, with Kopf's own decision functions."""
    body = legacy_job()
    registry = kopf.get_default_registry()
    assert finalizers.is_deletion_blocked(body=body, finalizer=FINALIZER)
    assert not registry._spawning.requires_finalizer(cause=spawning_cause(body))


def test_a_daemon_that_is_not_registered_is_refused() -> None:
    async def stray(**_: Any) -> None:
        return None

    with pytest.raises(LookupError):
        deletion.register_without_finalizer(kopf.OperatorRegistry(), stray)


def stopper() -> tuple[FlagSetter[Any], kopf.DaemonStopped]:
    setter: FlagSetter[Any] = FlagSetter()
    return setter, AsyncFlagWaiter(setter)


def test_nap_ends_early_when_the_job_is_deleted_or_the_daemon_stopped() -> None:
    async def scenario() -> None:
        deletions = deletion.Deletions()
        setter, stopped = stopper()
        gone = deletions.event("u-1")

        loop = asyncio.get_running_loop()
        loop.call_later(0.05, deletions.deleted, "u-1")
        await asyncio.wait_for(deletion.nap(stopped, gone, 60), 2)

        other = deletions.event("u-2")
        loop.call_later(0.05, setter.set)
        await asyncio.wait_for(deletion.nap(stopped, other, 60), 2)

        begin = loop.time()
        await deletion.nap(*stopper()[1:], deletions.event("u-3"), 0.05)
        assert loop.time() - begin >= 0.04  # neither: the full nap

    asyncio.run(scenario())


def test_a_deletion_seen_before_the_loop_started_ends_it_at_once() -> None:
    """Kopf may spawn the daemon after the DELETED event (created and deleted at once)."""
    deletions = deletion.Deletions()
    deletions.deleted("u-1")
    assert deletions.event("u-1").is_set()
    deletions.forget("u-1")
    assert len(deletions) == 0
    assert not deletions.event("u-1").is_set()


class FakeLoop:
    """Stands in for reconcile.JobLoop: records what the daemon asks of it."""

    made: list[FakeLoop] = []  # noqa: RUF012 - per-test record, reset by the fixture

    def __init__(self, shared: Any, body: kopf.Body, logger: Any) -> None:
        self.steps = 0
        self.cancelled = False
        self.forgotten = False
        FakeLoop.made.append(self)

    async def step(self, jobs: Any, pods: Any) -> float:
        self.steps += 1
        return 3600.0

    async def cancel(self) -> None:
        self.cancelled = True

    def forget(self) -> None:
        self.forgotten = True


@pytest.fixture
def fake_loop(monkeypatch: pytest.MonkeyPatch) -> type[FakeLoop]:
    FakeLoop.made = []
    monkeypatch.setattr(handlers, "JobLoop", FakeLoop)
    return FakeLoop


STANDALONE = SimpleNamespace(config=SimpleNamespace(peering=""), started=0.0)
"""The slice of OperatorState the daemon reads itself: no peering, so no settle wait."""


async def run_follow(body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped) -> None:
    await follow(
        body=body,
        memo=memo,
        stopped=stopped,
        logger=logging.getLogger(__name__),
        children={},
        trainer_pods={},
    )


def test_a_deleted_job_s_loop_ends_without_writing(fake_loop: type[FakeLoop]) -> None:
    async def scenario() -> None:
        memo = kopf.Memo(shared=STANDALONE, deletions=deletion.Deletions())
        body = job_body()
        task = asyncio.create_task(run_follow(body, memo, stopper()[1]))
        await asyncio.sleep(0.05)
        await watched(type="DELETED", body=body, memo=memo)
        await asyncio.wait_for(task, 2)
        (loop,) = fake_loop.made
        assert loop.steps == 1
        assert not loop.cancelled, "nothing to write to: the object is gone"
        assert loop.forgotten
        assert len(memo["deletions"]) == 0

    asyncio.run(scenario())


def test_a_job_with_a_deletion_timestamp_is_recorded_cancelled(
    fake_loop: type[FakeLoop],
) -> None:
    """Foreground deletion, or another controller's finalizer: the object is still there."""

    async def scenario() -> None:
        memo = kopf.Memo(shared=STANDALONE, deletions=deletion.Deletions())
        raw: Any = finetunejob("demo", "team-a", uid="u-1")
        raw["metadata"]["deletionTimestamp"] = "2026-11-28T10:00:00Z"
        setter, stopped = stopper()
        task = asyncio.create_task(run_follow(kopf.Body(raw), memo, stopped))
        await asyncio.sleep(0.05)
        setter.set()  # what Kopf does on a deletionTimestamp
        await asyncio.wait_for(task, 2)
        (loop,) = fake_loop.made
        assert loop.cancelled
        assert loop.forgotten

    asyncio.run(scenario())


def test_other_watch_events_end_nothing(fake_loop: type[FakeLoop]) -> None:
    async def scenario() -> None:
        memo = kopf.Memo(shared=STANDALONE, deletions=deletion.Deletions())
        body = job_body()
        for kind in (None, "ADDED", "MODIFIED"):
            await watched(type=kind, body=body, memo=memo)
        assert not memo["deletions"].event("u-1").is_set()

    asyncio.run(scenario())
