"""docs/argocd-health.lua, the Argo CD health check users install, run in Lua 5.1 (the
language of gopher-lua, Argo CD's interpreter) against statuses the operator writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lupa import lua51

from finetune_api.status import Phase

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "argocd-health.lua"


def health(obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) as Argo CD would get them: the script sees the object as ``obj``."""
    runtime = lua51.LuaRuntime()
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    result = runtime.execute(SCRIPT.read_text())
    return str(result["status"]), str(result["message"])


def ftj(
    phase: str | None, *, generation: int = 1, observed: int = 1, **condition: str
) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": observed}
    if phase is not None:
        status["phase"] = phase
    if condition:
        status["conditions"] = [
            {"type": "Validated", "status": "True", "reason": "DatasetValid", "message": "ok"},
            {"type": "Ready", **condition},
        ]
    return {"metadata": {"name": "demo", "generation": generation}, "status": status}


EXPECTED = {
    Phase.VALIDATING: "Progressing",
    Phase.QUEUED: "Progressing",
    Phase.RUNNING: "Progressing",
    Phase.SUSPENDED: "Suspended",
    Phase.SUCCEEDED: "Healthy",
    Phase.FAILED: "Degraded",
    Phase.CANCELLED: "Degraded",
}


def test_every_phase_has_an_expected_health() -> None:
    assert set(EXPECTED) == set(Phase)


@pytest.mark.parametrize(("phase", "expected"), EXPECTED.items())
def test_each_phase_has_its_health(phase: Phase, expected: str) -> None:
    assert health(ftj(phase.value))[0] == expected


def test_a_new_job_without_status_is_progressing() -> None:
    assert health({"metadata": {"name": "demo", "generation": 1}}) == (
        "Progressing",
        "Waiting for the operator",
    )


def test_the_message_says_why_it_failed() -> None:
    obj = ftj("Failed", status="False", reason="InvalidDataset", message="line 3: no messages")
    assert health(obj) == ("Degraded", "Failed: line 3: no messages")


def test_a_status_for_an_older_generation_is_progressing() -> None:
    assert health(ftj("Succeeded", generation=2, observed=1)) == (
        "Progressing",
        "Waiting for the operator to observe generation 2",
    )
