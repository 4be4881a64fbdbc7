"""spec.tracking into the trainer's report_to (the integrations transformers reports to)."""

from __future__ import annotations

import pytest
from tests.support.manifests import finetunejob
from transformers.integrations.integration_utils import get_available_reporting_integrations

from finetune_api.jobspec import Tracking, parse_job
from finetune_trainer.tracking import report_to


@pytest.mark.parametrize(
    ("tracking", "expected"),
    [({}, []), ({"tensorboard": False}, []), ({"tensorboard": True}, ["tensorboard"])],
)
def test_report_to_follows_the_spec(tracking: dict[str, bool], expected: list[str]) -> None:
    job = parse_job(finetunejob(tracking=tracking))
    assert report_to(job.spec.tracking) == expected


def test_every_integration_a_spec_can_ask_for_is_installed() -> None:
    """The trainer image has what the spec offers (pyproject's trainer extra)."""
    everything = report_to(Tracking(tensorboard=True))
    assert set(everything) <= set(get_available_reporting_integrations())
