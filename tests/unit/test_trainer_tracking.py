"""spec.tracking into the trainer's report_to and the variables the trackers' clients read."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.manifests import finetunejob
from transformers.integrations.integration_utils import get_available_reporting_integrations

from finetune_api.jobspec import MlflowTracking, Tracking, WandbTracking, parse_job
from finetune_trainer.tracking import report_to, tracker_env

MLFLOW = {"trackingUri": "https://mlflow.example", "experimentName": "support"}
WANDB = {"project": "support", "entity": "team-a", "secretRef": {"name": "wb"}}


@pytest.mark.parametrize(
    ("tracking", "integrations", "env"),
    [
        ({}, [], {}),
        ({"tensorboard": True}, ["tensorboard"], {}),
        (
            {"mlflow": MLFLOW},
            ["mlflow"],
            {"MLFLOW_TRACKING_URI": "https://mlflow.example", "MLFLOW_EXPERIMENT_NAME": "support"},
        ),
        (
            {"mlflow": {"trackingUri": "databricks"}},
            ["mlflow"],
            {"MLFLOW_TRACKING_URI": "databricks"},
        ),
        ({"wandb": WANDB}, ["wandb"], {"WANDB_PROJECT": "support", "WANDB_ENTITY": "team-a"}),
        ({"wandb": {"project": "p"}}, ["wandb"], {"WANDB_PROJECT": "p"}),
        (
            {"tensorboard": True, "mlflow": MLFLOW, "wandb": WANDB},
            ["tensorboard", "mlflow", "wandb"],
            {
                "MLFLOW_TRACKING_URI": "https://mlflow.example",
                "MLFLOW_EXPERIMENT_NAME": "support",
                "WANDB_PROJECT": "support",
                "WANDB_ENTITY": "team-a",
            },
        ),
    ],
    ids=["none", "tensorboard", "mlflow", "mlflow-databricks", "wandb", "wandb-bare", "all"],
)
def test_tracking_becomes_report_to_and_env(
    tracking: dict[str, Any], integrations: list[str], env: dict[str, str]
) -> None:
    job = parse_job(finetunejob(tracking=tracking))
    assert report_to(job.spec.tracking) == integrations
    assert tracker_env(job.spec.tracking) == env


def test_every_integration_a_spec_can_ask_for_is_installed() -> None:
    """The trainer image has what the spec offers (pyproject's trainer extra)."""
    everything = Tracking(
        tensorboard=True,
        mlflow=MlflowTracking(tracking_uri="https://mlflow.example"),
        wandb=WandbTracking(project="p"),
    )
    assert set(report_to(everything)) <= set(get_available_reporting_integrations())
