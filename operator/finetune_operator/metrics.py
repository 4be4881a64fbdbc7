"""Prometheus metrics of the operator, served on their own port (Kopf's probe server has one
route only). Labels stay low-cardinality: namespace and phase, never job names.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import Counter, Gauge, Histogram, start_http_server

JOBS_BY_PHASE = Gauge(
    "finetune_jobs", "FineTuneJobs by namespace and phase.", ["namespace", "phase"]
)
RECONCILE_ERRORS = Counter(
    "finetune_reconcile_errors", "Reconcile passes that failed with an error."
)
TIME_TO_RUNNING = Histogram(
    "finetune_time_to_running_seconds",
    "Seconds from a FineTuneJob's creation until its training first ran.",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)


class PhaseBook:
    """The last known phase of every job this process follows, mirrored into JOBS_BY_PHASE."""

    def __init__(self) -> None:
        self._phases: dict[tuple[str, str], str] = {}
        self._counts: Tally[tuple[str, str]] = Tally()
        """Jobs per (namespace, phase), kept as phases change: every pass of every job sets its
        phase, so recounting all jobs each time would cost O(jobs) a pass."""

    def set(self, namespace: str, name: str, phase: str | None) -> None:
        key = (namespace, name)
        old = self._phases.get(key)
        if old == phase:
            return
        if phase is None:
            del self._phases[key]
        else:
            self._phases[key] = phase
            self._add(namespace, phase, 1)
        if old is not None:
            self._add(namespace, old, -1)

    def count(self) -> int:
        return len(self._phases)

    def _add(self, namespace: str, phase: str, delta: int) -> None:
        self._counts[namespace, phase] += delta
        if self._counts[namespace, phase]:
            JOBS_BY_PHASE.labels(namespace=namespace, phase=phase).set(
                self._counts[namespace, phase]
            )
        else:
            del self._counts[namespace, phase]
            JOBS_BY_PHASE.remove(namespace, phase)


def serve(port: int) -> None:
    """Start the /metrics HTTP server in a background thread."""
    start_http_server(port)
