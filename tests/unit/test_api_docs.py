"""docs/api.md is the generator's output for the current CRD (tools/gen_api_docs.py)."""

from __future__ import annotations

from tools import gen_api_docs


def test_api_reference_is_generated_from_the_crd() -> None:
    assert gen_api_docs.DOC.read_text() == gen_api_docs.render(), "run: make api-docs"
