"""Status conditions per the Kubernetes API conventions.

lastTransitionTime changes only when a condition's status changes; reason, message and
observedGeneration are refreshed in place. Pure functions over plain lists of dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Condition = dict[str, Any]


def find(conditions: Sequence[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def is_true(conditions: Sequence[Mapping[str, Any]], type_: str) -> bool:
    condition = find(conditions, type_)
    return condition is not None and condition.get("status") == "True"


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    *,
    generation: int,
    now: str,
) -> list[Condition]:
    """A copy of ``conditions`` with ``type_`` set; existing order kept, new types appended."""
    value = "True" if status else "False"
    previous = find(conditions, type_)
    since = (
        previous.get("lastTransitionTime", now)
        if previous is not None and previous.get("status") == value
        else now
    )
    updated: Condition = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
        "observedGeneration": generation,
    }
    result = [dict(c) if c.get("type") != type_ else updated for c in conditions]
    if previous is None:
        result.append(updated)
    return result
