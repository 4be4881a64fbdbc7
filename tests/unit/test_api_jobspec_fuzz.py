"""Fuzzing the job model: any document either parses (and renders back to the same spec) or
raises pydantic's ValidationError; a job file of any text raises only ValueError, which the
trainer reports as InvalidConfig."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.support.manifests import finetunejob

from finetune_api.jobspec import FineTuneJob, parse_job
from finetune_api.spec_reader import read_job_file

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
SPEC_FIELDS = [
    "baseModel",
    "dataset",
    "method",
    "hyperparameters",
    "deepspeed",
    "resources",
    "storage",
    "output",
    "checkpointing",
    "runPolicy",
    "queueName",
    "image",
]


def parsed_or_refused(document: Any) -> FineTuneJob | None:
    try:
        job = parse_job(document)
    except ValidationError:
        return None
    assert parse_job(job.rendered()).spec == job.spec
    return job


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(SPEC_FIELDS), value=JSON_VALUES)
def test_any_spec_field_value_parses_or_is_refused(field: str, value: Any) -> None:
    parsed_or_refused(finetunejob(**{field: value}))


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(SPEC_FIELDS),
    inner=st.dictionaries(st.text(max_size=20), JSON_VALUES, max_size=4),
)
def test_any_nested_fields_parse_or_are_refused(field: str, inner: dict[str, Any]) -> None:
    spec: dict[str, Any] = {field: inner}
    parsed_or_refused(finetunejob(**spec))


@settings(max_examples=200, deadline=None)
@given(document=JSON_VALUES)
def test_any_document_parses_or_is_refused(document: Any) -> None:
    parsed_or_refused(document)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_any_job_file_raises_only_value_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError):
            read_job_file(path)
