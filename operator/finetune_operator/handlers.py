"""Kopf handlers: settings, two indexes of children, and one daemon per FineTuneJob.

Only level-based handlers are used (indexes and a daemon), so Kopf stores no diff-base
annotation on the FineTuneJob and GitOps tools see no drift. The daemon adds Kopf's finalizer
(renamed to ours); the cancellation settings guarantee deletion never waits on a stuck loop.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from finetune_api.resource import GROUP, PLURAL, VERSION
from finetune_operator import metrics, names
from finetune_operator.config import OperatorConfig
from finetune_operator.kube import ForeignChild, KubeClient
from finetune_operator.observed import JobState, PodState, job_key, job_state, pod_state
from finetune_operator.reconcile import (
    ERROR_BACKOFF_SECONDS,
    JobKey,
    JobLoop,
    OperatorState,
)

OURS = {names.LABEL_MANAGED_BY: names.MANAGED_BY}


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: OperatorConfig = memo["config"]
    # Our own finalizer and annotation prefix: precise GitOps ignore rules, no clash with other
    # Kopf operators.
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Events only for transitions, which the reconciler posts itself.
    settings.posting.level = logging.INFO
    # A hung apiserver call should fail and be retried, not stall a watch for 5 minutes.
    settings.networking.request_timeout = 60
    # Literal namespace names leave nothing to discover at run time, and scanning would need
    # cluster-wide namespace list/watch, which the chart grants only for glob patterns.
    if config.namespaces and not any(set(ns) & set("*?[!") for ns in config.namespaces):
        settings.scanning.disabled = True
    memo["shared"] = OperatorState(config=config, kube=KubeClient(settings))
    if config.metrics_port:
        metrics.serve(config.metrics_port)


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


@kopf.daemon(
    GROUP,
    VERSION,
    PLURAL,
    # On deletion: `stopped` is set and the loop has 5 s to record Cancelled and return, then it
    # is cancelled, then abandoned after 5 s more, so the finalizer never blocks deletion.
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
    try:
        while not stopped:
            try:
                delay = await loop.step(jobs, pods)
            except ForeignChild as conflict:  # expected after a same-name re-create: just wait
                logger.warning("%s", conflict)
                delay = ERROR_BACKOFF_SECONDS
            except Exception:  # any failure: count it, log it, retry the whole pass later
                metrics.RECONCILE_ERRORS.inc()
                logger.exception("reconcile pass failed; retrying in %.0fs", ERROR_BACKOFF_SECONDS)
                delay = ERROR_BACKOFF_SECONDS
            await stopped.wait(delay)
        # Kopf stops the daemon when the object is deleted (or the operator exits).
        if body.metadata.get("deletionTimestamp"):
            await loop.cancel()
    finally:
        loop.forget()


@kopf.on.probe(id="followed")
async def followed(memo: kopf.Memo, **_: Any) -> int:
    """Liveness detail: how many FineTuneJobs this process follows."""
    shared: OperatorState | None = memo.get("shared")
    return shared.phases.count() if shared else 0
