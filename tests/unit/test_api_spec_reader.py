"""Version skew: a spec with fields this build does not know is read without them, and the
fields are named; anything else wrong still fails to parse."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tests.support.manifests import finetunejob

from finetune_api.spec_reader import read_job


def test_known_spec_reads_whole() -> None:
    read = read_job(finetunejob())
    assert read.unknown_fields == ()
    assert read.job.spec.resources.num_nodes == 1


@pytest.mark.parametrize(
    ("fields", "unknown"),
    [
        ({"futureTopLevel": {"a": 1}}, ("spec.futureTopLevel",)),
        (
            {"resources": {"numNodes": 2, "topologyHint": "rack"}},
            ("spec.resources.topologyHint",),
        ),
        (
            {"resources": {"tolerations": [{"key": "gpu", "operator": "Exists", "new": 1}]}},
            ("spec.resources.tolerations[0].new",),
        ),
        (
            {"zFuture": 1, "hyperparameters": {"epochs": 1, "schedule": "cosine"}},
            ("spec.hyperparameters.schedule", "spec.zFuture"),
        ),
    ],
)
def test_unknown_fields_are_set_aside_and_named(
    fields: dict[str, Any], unknown: tuple[str, ...]
) -> None:
    read = read_job(finetunejob(**fields))
    assert read.unknown_fields == unknown
    rendered = read.job.rendered()["spec"]
    assert "futureTopLevel" not in rendered and "zFuture" not in rendered
    assert "topologyHint" not in rendered["resources"]


def test_unknown_fields_do_not_hide_a_real_error() -> None:
    with pytest.raises(ValidationError, match="numNodes"):
        read_job(finetunejob(resources={"numNodes": 0, "newField": True}))
