"""Kopf handlers: settings, two indexes of children, and one daemon per FineTuneJob.

Only level-based handlers are used (indexes, a daemon, a watch-event handler), so Kopf stores no
diff-base annotation on the FineTuneJob and GitOps tools see no drift. The daemon is registered
without Kopf's finalizer (``finetune_operator.deletion``): deleting a job never waits for an
operator; the garbage collector removes its children and the DELETED event ends its loop.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import kopf

from finetune_api.resource import GROUP, PLURAL, VERSION
from finetune_operator import deletion, metrics, names, peering
from finetune_operator.config import OperatorConfig
from finetune_operator.kube import ForeignChild, KubeClient
from finetune_operator.observed import JobState, PodState, job_key, job_state, pod_state
from finetune_operator.reconcile import (
    ERROR_BACKOFF_SECONDS,
    JobKey,
    JobLoop,
    OperatorState,
)
from finetune_operator.watch_gaps import JobVanished

OURS = {names.LABEL_MANAGED_BY: names.MANAGED_BY}
CHILD_WATCHES = (("batch", "v1", "jobs"), ("v1", "pods"))
"""The resources the two indexes below watch (group, version, plural); a unit test checks that
each index registered is one of them."""


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: OperatorConfig = memo["config"]
    # Our own finalizer name and annotation prefix: precise GitOps ignore rules, no clash with
    # other Kopf operators. No handler needs the finalizer any more; the name stays so that Kopf
    # recognises, and removes, the one older operators put on existing jobs.
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Events only for transitions, which the reconciler posts itself.
    settings.posting.level = logging.INFO
    # A hung apiserver call should fail and be retried, not stall a watch for 5 minutes.
    settings.networking.request_timeout = 60
    watch_only_ours(settings)
    # Literal namespace names leave nothing to discover at run time, and scanning would need
    # cluster-wide namespace list/watch, which the chart grants only for glob patterns.
    if config.namespaces and not any(set(ns) & set("*?[!") for ns in config.namespaces):
        settings.scanning.disabled = True
    # One acting replica among several (or standalone): see finetune_operator.peering.
    peering.configure(settings, config.peering, config.peering_lifetime, time.time_ns())
    memo["shared"] = OperatorState(config=config, kube=KubeClient(settings))
    memo["deletions"] = deletion.Deletions()
    if config.metrics_port:
        metrics.serve(config.metrics_port)


def watch_only_ours(settings: kopf.OperatorSettings) -> None:
    """Have the apiserver filter the child watches by ``OURS``.

    The indexes' ``labels=`` filter only after Kopf received every object, so without this the
    operator lists and watches every Job and Pod of the cluster (memory, CPU and apiserver load
    growing with the cluster, not with our jobs). Kopf sends these selectors with each list and
    watch of a matching resource (``settings.watching.label_selectors``).
    """
    for resource in CHILD_WATCHES:
        settings.watching.label_selectors[resource] = names.MANAGED_SELECTOR


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    shared: OperatorState = memo["shared"]
    await shared.kube.close()


@kopf.index("batch", "v1", "jobs", labels=OURS)
async def children(body: kopf.Body, **_: Any) -> dict[JobKey, JobState] | None:
    """Validation and training Jobs by (namespace, FineTuneJob name)."""
    key = job_key(body)
    return {key: job_state(body)} if key else None


@kopf.index("v1", "pods", labels=OURS)
async def trainer_pods(body: kopf.Body, **_: Any) -> dict[JobKey, PodState] | None:
    """Validation and training pods by (namespace, FineTuneJob name)."""
    key = job_key(body)
    return {key: pod_state(body)} if key else None


@kopf.on.event(GROUP, VERSION, PLURAL)
async def watched(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A FineTuneJob gone from the API (it has no finalizer, so that comes at once): its loop
    ends (Kopf stops daemons only on a deletionTimestamp, which such a delete never shows)."""
    if type == "DELETED" and body.metadata.uid:
        deletions: deletion.Deletions = memo["deletions"]
        deletions.deleted(body.metadata.uid)


@kopf.daemon(
    GROUP,
    VERSION,
    PLURAL,
    # On a deletion with a deletionTimestamp (foreground, another controller's finalizer) and
    # when a peer with a higher priority appears: `stopped` is set and the loop has 5 s to
    # return, then it is cancelled, then abandoned after 5 s more.
    cancellation_backoff=5.0,
    cancellation_timeout=5.0,
)
async def follow(
    *,
    body: kopf.Body,
    memo: Any,
    stopped: kopf.DaemonStopped,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    """Reconcile one FineTuneJob until it is deleted or the operator stops."""
    # Kopf passes each index as a keyword named after its handler.
    jobs: kopf.Index[JobKey, JobState] = kwargs["children"]
    pods: kopf.Index[JobKey, PodState] = kwargs["trainer_pods"]
    loop = JobLoop(memo["shared"], body, logger)
    deletions: deletion.Deletions = memo["deletions"]
    uid = body.metadata.uid or ""
    gone = deletions.event(uid)
    shared: OperatorState = memo["shared"]
    try:
        # Paused meanwhile (a peer of higher priority seen), Kopf sets `stopped`: nothing done.
        await deletion.nap(
            stopped, gone, peering.settle_left(shared.config.peering, shared.started)
        )
        while not stopped and not gone.is_set():
            try:
                delay = await loop.step(jobs, pods)
            except JobVanished:  # deleted while a watch was broken: as if DELETED had come
                deletions.deleted(uid)
                delay = 0
            except ForeignChild as conflict:  # expected after a same-name re-create: just wait
                logger.warning("%s", conflict)
                delay = ERROR_BACKOFF_SECONDS
            except Exception:  # any failure: count it, log it, retry the whole pass later
                metrics.RECONCILE_ERRORS.inc()
                logger.exception("reconcile pass failed; retrying in %.0fs", ERROR_BACKOFF_SECONDS)
                delay = ERROR_BACKOFF_SECONDS
            await deletion.nap(stopped, gone, delay)
        if gone.is_set():
            # Nothing to write to; the garbage collector removes the children.
            logger.info("deleted; its children go by garbage collection")
        elif body.metadata.get("deletionTimestamp"):
            # Still there until the garbage collector or another finalizer lets it go.
            await loop.cancel()
    finally:
        deletions.forget(uid)
        loop.forget()


# The daemon needs no finalizer: see finetune_operator.deletion.
deletion.register_without_finalizer(kopf.get_default_registry(), follow)


@kopf.on.probe(id="followed")
async def followed(memo: kopf.Memo, **_: Any) -> int:
    """Liveness detail: how many FineTuneJobs this process follows."""
    shared: OperatorState | None = memo.get("shared")
    return shared.phases.count() if shared else 0
