"""The summary conditions Ready, Reconciling and Stalled, derived from the phase.

GitOps tools and scripts do not know our phases; they read these. kstatus (Flux's health
checks, ``kstatus``-based CLIs) reports a custom resource InProgress while ``Reconciling`` is
True or ``status.observedGeneration`` is behind ``metadata.generation``, Failed while
``Stalled`` is True, and Current otherwise; ``kubectl wait --for=condition=Ready`` waits for a
Succeeded job. What each phase means is ``finetune_api.status.READINESS``; the reason and
message are copied from the condition that explains the phase, so they say why. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finetune_api.status import READINESS, ConditionType, Phase
from finetune_operator import conditions as cond

EXPLAINED_BY: Mapping[Phase, ConditionType] = {
    Phase.FAILED: ConditionType.FAILED,
    Phase.CANCELLED: ConditionType.FAILED,
    Phase.SUCCEEDED: ConditionType.SUCCEEDED,
    Phase.QUEUED: ConditionType.ADMITTED,
    Phase.SUSPENDED: ConditionType.SUSPENDED,
    Phase.VALIDATING: ConditionType.VALIDATED,
    Phase.RUNNING: ConditionType.RUNNING,
}
"""The condition whose reason and message explain being in each phase."""


def _phase(status: Mapping[str, Any]) -> Phase | None:
    value = status.get("phase")
    return Phase(value) if value in set(Phase) else None


def explanation(status: Mapping[str, Any]) -> tuple[str, str]:
    """The reason and message of the condition that explains the phase (the phase itself as
    the reason when that condition is missing)."""
    phase = _phase(status)
    conditions = status.get("conditions") or []
    detail = cond.find(conditions, EXPLAINED_BY[phase]) if phase is not None else None
    reason = str((detail or {}).get("reason") or phase or "")
    return reason, str((detail or {}).get("message") or reason)


def summarise(status: Mapping[str, Any], *, generation: int, now: str) -> dict[str, Any]:
    """A copy of ``status`` with Ready, Reconciling and Stalled set for its phase (unchanged
    without a phase: nothing has been decided yet)."""
    phase = _phase(status)
    if phase is None:
        return dict(status)
    readiness = READINESS[phase]
    reason, message = explanation(status)
    conditions = status.get("conditions") or []
    for type_, value in (
        (ConditionType.READY, readiness.ready),
        (ConditionType.RECONCILING, readiness.reconciling),
        (ConditionType.STALLED, readiness.stalled),
    ):
        # Ready always explains itself; the kstatus pair only while True (else: the phase).
        explains = value or type_ is ConditionType.READY
        conditions = cond.set_condition(
            conditions,
            type_,
            value,
            reason if explains else phase,
            message if explains else "",
            generation=generation,
            now=now,
        )
    return {**status, "conditions": conditions}
