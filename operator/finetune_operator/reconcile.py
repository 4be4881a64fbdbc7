"""One FineTuneJob's control loop: observe the children (from Kopf's indexes), decide (pure),
act (idempotent creates and patches), then write status (only when changed) and post events.

Everything the loop needs to resume lives in the object's status and in the children, so an
operator restarted at any point picks up where the last one stopped without duplicating anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from finetune_api.jobspec import FineTuneJob
from finetune_api.reports import ProgressReport
from finetune_api.spec_reader import ReadJob, read_job
from finetune_api.status import FINAL_PHASES, Phase
from finetune_operator import builders, decisions, metrics, names, tenancy
from finetune_operator.config import OperatorConfig
from finetune_operator.kube import (
    ApiError,
    KubeClient,
    finetunejob_path,
    finetunejobs_path,
    job_path,
    jobs_path,
    pods_path,
)
from finetune_operator.observed import JobState, PodState
from finetune_operator.progress_client import BadReport, fetch_progress
from finetune_operator.watch_gaps import JobVanished, LiveIndex, WatchGaps, held_uids

TICK_SECONDS = 2.0
"""Pause between passes; a pass reads only in-memory indexes, so it is cheap."""
ERROR_BACKOFF_SECONDS = 10.0
FINISHED_WAIT_SECONDS = 60.0
"""A finished job's loop only waits for deletion or its TTL, and acknowledges a new generation
(a manifest edited in Git) within this time, so kstatus does not see it as InProgress."""

AUDIT_LOG_UIDS = 10
"""UIDs named in an audit's log line; the count says how many more."""
JobKey = tuple[str, str]
CREATES = frozenset({decisions.Action.CREATE_VALIDATION, decisions.Action.CREATE_TRAINING})


@dataclass
class OperatorState:
    """Process-wide state shared by every job's loop."""

    config: OperatorConfig
    kube: KubeClient
    phases: metrics.PhaseBook = field(default_factory=metrics.PhaseBook)
    admission_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    claims: set[JobKey] = field(default_factory=set)
    """Jobs whose training Job this process created but the index has not shown yet; counted
    against --max-running-per-namespace so two jobs cannot take the last slot together."""
    started: float = field(default_factory=time.monotonic)
    """When this process started (monotonic): peering's settle time counts from it."""
    gaps: WatchGaps = field(init=False)

    def __post_init__(self) -> None:
        self.gaps = WatchGaps(self.config.audit_interval)

    @contextlib.asynccontextmanager
    async def admission(self, namespace: str) -> AsyncIterator[None]:
        """Serialise jobs of a namespace while they may start training under the limit."""
        if not self.config.max_running_per_namespace:
            yield
            return
        lock = self.admission_locks.setdefault(namespace, asyncio.Lock())
        async with lock:
            yield


def plain(value: Any) -> Any:
    """A deep copy of Kopf's body views as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch turning ``current`` into ``desired`` (top-level status fields)."""
    patch: dict[str, Any] = {k: v for k, v in desired.items() if current.get(k) != v}
    patch.update({k: None for k in current if k not in desired})
    return patch


def _running_elsewhere(
    index: Mapping[JobKey, Iterable[JobState]], me: JobKey, claims: Iterable[JobKey]
) -> int:
    busy = {
        key
        for key in index
        if key[0] == me[0]
        and key != me
        and any(s.role == "train" and s.finished is None and not s.suspended for s in index[key])
    }
    busy.update(c for c in claims if c[0] == me[0] and c != me)
    return len(busy)


def _by_owner(states: Iterable[JobState], uid: str | None) -> tuple[list[JobState], list[JobState]]:
    """The Jobs this FineTuneJob controls, and the others that carry its name's label."""
    mine: list[JobState] = []
    others: list[JobState] = []
    for state in states:
        (mine if uid and state.owner_uid == uid else others).append(state)
    return mine, others


def pod0_ip(pods: Iterable[PodState], training: JobState | None) -> str | None:
    """The IP of rank 0 of this job's training Job: the newest running pod with completion
    index 0 whose controller is that very Job, by UID (the Job itself being controlled by this
    FineTuneJob's UID). Labels alone are not enough: anyone who can create pods in the
    namespace can copy them, and the operator would poll (and mirror) whatever that pod says."""
    if training is None or not training.uid:
        return None
    running = sorted(
        (
            p
            for p in pods
            if p.owner_uid == training.uid
            and p.role == "train"
            and p.index == 0
            and p.phase == "Running"
            and p.ip
        ),
        key=lambda p: p.created,
    )
    return running[-1].ip if running else None


def trainer_runtime(config: OperatorConfig, job: FineTuneJob) -> builders.TrainerRuntime:
    """What the operator's settings add to this job's trainer pods."""
    return builders.TrainerRuntime(
        image=job.spec.image or config.trainer_image,
        s3_endpoint=config.default_s3_endpoint,
        hf_endpoint=config.hf_endpoint,
        grace_period_seconds=config.trainer_grace_period,
        cpu_request=config.default_cpu_request,
        memory_request=config.default_memory_request,
        shm_size_limit=config.shm_size_limit,
        scratch_size_limit=config.scratch_size_limit,
        operator_peer=config.operator_peer,
    )


class JobLoop:
    """The loop of one FineTuneJob, driven by its Kopf daemon."""

    def __init__(self, shared: OperatorState, body: kopf.Body, logger: kopf.Logger) -> None:
        self.shared = shared
        self.body = body  # Kopf keeps it live: spec and metadata follow the watch stream
        self.logger = logger
        self.key: JobKey = (body.metadata.namespace or "", body.metadata.name or "")
        # The loop is the only writer of status: after its first write, its own copy is newer
        # than the watch stream's until the stream catches up.
        self.status: dict[str, Any] = plain(body.get("status") or {})
        self.report: ProgressReport | None = None
        self.bad_report: str | None = None
        """Why the last answer was refused; logged once until it changes."""
        self.polled_at = 0.0
        self._parsed: tuple[int, ReadJob | ValidationError] | None = None
        shared.gaps.followed[body.metadata.uid or ""] = self.key[0]

    def _job(self) -> ReadJob | ValidationError:
        generation = int(self.body.metadata.get("generation") or 0)
        if self._parsed is None or self._parsed[0] != generation:
            document = plain({k: self.body.get(k) for k in ("apiVersion", "kind", "spec")})
            document["metadata"] = {
                "name": self.key[1],
                "namespace": self.key[0],
                "uid": self.body.metadata.uid,
            }
            read: ReadJob | ValidationError
            try:
                read = read_job(document)
            except ValidationError as error:
                read = error
            if isinstance(read, ReadJob) and read.unknown_fields:
                # Once per generation: the condition SpecUnderstood carries it from here on.
                self.logger.warning(
                    "ignoring spec fields this operator version does not know: %s",
                    ", ".join(read.unknown_fields),
                )
            self._parsed = (generation, read)
        return self._parsed[1]

    def trainer_runtime(self, job: FineTuneJob) -> builders.TrainerRuntime:
        return trainer_runtime(self.shared.config, job)

    async def step(
        self,
        indexed_jobs: Mapping[JobKey, Iterable[JobState]],
        indexed_pods: Mapping[JobKey, Iterable[PodState]],
    ) -> float:
        """One pass; returns the seconds to wait before the next. Raises JobVanished when the
        FineTuneJob was deleted while a watch was broken."""
        uid = self.body.metadata.uid
        await self._audit(indexed_jobs, indexed_pods)
        if self.shared.gaps.gone(self.key[0], uid or ""):
            raise JobVanished(f"{self.key[0]}/{self.key[1]} is no longer in the apiserver")
        children = LiveIndex(indexed_jobs, self.shared.gaps)
        pods = LiveIndex(indexed_pods, self.shared.gaps)
        read = self._job()
        generation = int(self.body.metadata.get("generation") or 0)
        mine, _ = _by_owner(children.get(self.key, []), uid)
        if self.status.get("phase") in FINAL_PHASES:
            await self._write(decisions.finished(self.status, generation, datetime.now(UTC)))
            if isinstance(read, ReadJob):
                training = next((s for s in mine if s.role == "train"), None)
                return await self._finished(read.job, training)
            return FINISHED_WAIT_SECONDS
        own_pods = [p for p in pods.get(self.key, []) if p.owner_uid in {s.uid for s in mine}]
        await self._poll_progress(own_pods, next((s for s in mine if s.role == "train"), None))
        async with self.shared.admission(self.key[0]):
            # Read again under the lock: another job may have started training meanwhile.
            mine, leftovers = _by_owner(children.get(self.key, []), uid)
            training = next((s for s in mine if s.role == "train"), None)
            if training is not None:
                self.shared.claims.discard(self.key)
            observed = decisions.Observed(
                validation=next((s for s in mine if s.role == "validate"), None),
                training=training,
                pods=own_pods,
                progress=self.report,
                running_in_namespace=_running_elsewhere(children, self.key, self.shared.claims),
                leftovers=leftovers,
            )
            now = datetime.now(UTC)
            if isinstance(read, ValidationError):
                message = " ".join(str(read).splitlines()[:3])
                decision = decisions.invalid_spec(self.status, generation, message, now, observed)
                job = None
            else:
                job = read.job
                decision = decisions.decide(
                    job.spec,
                    generation=generation,
                    status=self.status,
                    observed=observed,
                    policy=self._policy(job),
                    now=now,
                    unknown_fields=read.unknown_fields,
                )
            try:
                await self._act(job, decision)
            except ApiError as error:
                if not error.rejected:
                    raise
                # Refused now, refused on every later pass: the job ends here, naming why.
                decision = decisions.child_rejected(
                    self.status, generation, error.message, now, observed
                )
                await self._act(job, decision)
        await self._write(decision)
        return TICK_SECONDS

    def _policy(self, job: FineTuneJob) -> decisions.Policy:
        config = self.shared.config
        return decisions.Policy(
            image_allowed=config.image_allowed(self.trainer_runtime(job).image),
            max_running_per_namespace=config.max_running_per_namespace,
            blocked_pod_timeout=config.blocked_pod_timeout,
            stall_timeout=config.stall_timeout,
            refusal=tenancy.storage_refusal(
                job.spec.storage,
                require_secret_ref=config.require_secret_ref,
                default_endpoint=config.default_s3_endpoint,
                allowed_endpoints=config.allowed_s3_endpoints,
            ),
        )

    async def _poll_progress(self, pods: list[PodState], training: JobState | None) -> None:
        interval = self.shared.config.progress_interval
        if (
            self.status.get("phase") != Phase.RUNNING
            or time.monotonic() - self.polled_at < interval
        ):
            return
        self.polled_at = time.monotonic()
        ip = pod0_ip(pods, training)
        try:
            report = await fetch_progress(ip) if ip else None
        except BadReport as error:
            # The last good report stays; status keeps it until a usable one arrives.
            if str(error) != self.bad_report:
                self.logger.warning("ignoring progress report of pod IP %s: %s", ip, error)
            self.bad_report = str(error)
            return
        if report is not None:
            self.report = report
            self.bad_report = None

    async def _act(self, job: FineTuneJob | None, decision: decisions.Decision) -> None:
        """Carry out the decision's actions in order. ``job`` is None when the spec cannot be
        read: such a decision only stops children, it never builds them."""
        kube = self.shared.kube
        namespace, name = self.key
        for action in decision.actions:
            if action in CREATES and job is None:
                raise ValueError(f"{action.value} needs a readable spec")
            if action is decisions.Action.CREATE_VALIDATION and job is not None:
                trainer = self.trainer_runtime(job)
                await kube.create(builders.build_config_map(job))
                await kube.create(builders.build_validate_job(job, trainer))
            elif action is decisions.Action.CREATE_TRAINING and job is not None:
                trainer = self.trainer_runtime(job)
                await kube.create(builders.build_config_map(job))
                pinned = builders.pinned_job(job, decision.base_model_revision)
                if pinned is not None:
                    await kube.create(builders.build_train_config_map(pinned))
                await kube.create(builders.build_service(job))
                if trainer.operator_peer is not None:
                    await kube.create(builders.build_network_policy(job, trainer))
                created = await kube.create(
                    builders.build_train_job(
                        job,
                        trainer,
                        suspend=decision.create_suspended,
                        attempt=decision.attempt,
                        active_deadline_seconds=decision.active_deadline_seconds,
                        base_model_revision=decision.base_model_revision,
                    )
                )
                if created:
                    self.shared.claims.add(self.key)
            elif action is decisions.Action.DELETE_VALIDATION:
                # The job failed; deleting (not suspending) stops its pods for good, where Kueue
                # would resume an admitted training Job. Before the status write, like every
                # action: should the write fail, the next pass finds no child and starts the
                # step again, instead of leaving pods that never start.
                await kube.delete(job_path(namespace, names.validate_job_name(name)))
            elif action is decisions.Action.DELETE_TRAINING:
                await kube.delete(job_path(namespace, names.train_job_name(name)))
            elif action is decisions.Action.DELETE_ATTEMPT:
                # A failed attempt: the next one is created under the same name once this Job,
                # and with it every pod of the attempt, is gone (decisions).
                await kube.delete(job_path(namespace, names.train_job_name(name)), foreground=True)
            else:
                suspend = action is decisions.Action.SUSPEND_TRAINING
                await kube.merge_patch(
                    job_path(namespace, names.train_job_name(name)), {"spec": {"suspend": suspend}}
                )
            self.logger.info("%s done", action.value)

    async def _audit(
        self,
        children: Mapping[JobKey, Iterable[JobState]],
        pods: Mapping[JobKey, Iterable[PodState]],
    ) -> None:
        """Once per ``--audit-interval`` and namespace: set aside what the operator holds but
        the apiserver deleted while a watch was broken (``finetune_operator.watch_gaps``)."""
        namespace = self.key[0]
        gaps = self.shared.gaps
        if not gaps.due(namespace, time.monotonic()):
            return
        async with gaps.locks.setdefault(namespace, asyncio.Lock()):
            if not gaps.due(namespace, time.monotonic()):
                return  # another loop of the namespace audited meanwhile
            # What is held is taken before the lists: anything created later is not judged.
            held = held_uids(children, namespace) | held_uids(pods, namespace)
            held |= gaps.followed_in(namespace)
            kube = self.shared.kube
            listed = await kube.list_uids(jobs_path(namespace), names.MANAGED_SELECTOR)
            listed |= await kube.list_uids(pods_path(namespace), names.MANAGED_SELECTOR)
            listed |= await kube.list_uids(finetunejobs_path(namespace))
            vanished = gaps.record(namespace, held, listed, time.monotonic())
        if vanished:
            named = sorted(vanished)
            self.logger.warning(
                "%d object(s) of namespace %s were deleted while a watch was broken; "
                "no longer counted: %s%s",
                len(named),
                namespace,
                ", ".join(named[:AUDIT_LOG_UIDS]),
                ", ..." if len(named) > AUDIT_LOG_UIDS else "",
            )

    async def _write(self, decision: decisions.Decision) -> None:
        """Write status if it changed, then (only then) post the transition events."""
        namespace, name = self.key
        desired = decision.status
        patch = status_patch(self.status, desired)
        if not patch:
            return
        await self.shared.kube.merge_patch(
            finetunejob_path(namespace, name, status=True), {"status": patch}
        )
        started = "startTime" in desired and "startTime" not in self.status
        self.status = desired
        self.shared.phases.set(namespace, name, desired.get("phase"))
        if started:
            self._observe_time_to_running(desired["startTime"])
        for event in decision.events:
            kopf.event(self.body, type=event.type, reason=event.reason, message=event.message)

    def _observe_time_to_running(self, start: str) -> None:
        created = self.body.metadata.creation_timestamp
        if not created:
            return
        begin = datetime.fromisoformat(created.replace("Z", "+00:00"))
        end = datetime.fromisoformat(start.replace("Z", "+00:00"))
        metrics.TIME_TO_RUNNING.observe(max(0.0, (end - begin).total_seconds()))

    async def _finished(self, job: FineTuneJob, training: JobState | None) -> float:
        self.shared.phases.set(*self.key, self.status.get("phase"))
        now = datetime.now(UTC)
        grace = self.shared.config.leftover_ranks_grace
        leftover = decisions.leftover_ranks(job.spec, self.status, training, now, grace)
        if leftover.action is not None:
            self.logger.warning("ranks still running after rank 0 published; stopping them")
            await self._act(job, decisions.Decision(status=self.status, actions=(leftover.action,)))
        wait = leftover.wait_seconds or FINISHED_WAIT_SECONDS
        remaining = decisions.seconds_until_deletion(job.spec, self.status, now)
        if remaining is None:
            return min(wait, FINISHED_WAIT_SECONDS)
        if remaining <= 0:
            self.logger.info("ttlSecondsAfterFinished passed; deleting the FineTuneJob")
            await self.shared.kube.delete(finetunejob_path(*self.key))
            return FINISHED_WAIT_SECONDS
        return min(remaining, wait, FINISHED_WAIT_SECONDS)

    async def cancel(self) -> None:
        """The FineTuneJob is being deleted: record Cancelled if it had not finished."""
        generation = int(self.body.metadata.get("generation") or 0)
        await self._write(decisions.cancelled(self.status, generation, datetime.now(UTC)))

    def forget(self) -> None:
        self.shared.phases.set(*self.key, None)
        self.shared.gaps.followed.pop(self.body.metadata.uid or "", None)
        self.shared.claims.discard(self.key)
