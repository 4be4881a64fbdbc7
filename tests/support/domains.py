"""The synthetic fact-sheet domains, rendered for tests: each is file name -> content.

- ``quillfeather``: the demo's dataset (examples/data/, committed; a unit test keeps the
  committed files equal to the generator's output);
- ``skerrow``: a second domain of the same shape with its own facts and wording
  (tests/data/skerrow/), rendered here when a test asks, never committed.

Both render in a few milliseconds, so tests call these functions rather than share files; a test
that needs them on disk writes them under its tmp_path.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.data.skerrow import make_dataset as skerrow

import make_dataset as quillfeather  # examples/data/make_dataset.py, on the path (pyproject)


def quillfeather_files() -> dict[str, str]:
    """train.jsonl, eval.jsonl and heldout_question.txt of the demo's domain."""
    return quillfeather.render()


def second_domain_files() -> dict[str, str]:
    """train.jsonl, eval.jsonl and heldout_question.txt of Skerrow Sound Ferries."""
    return skerrow.render()


DOMAINS: dict[str, Callable[[], dict[str, str]]] = {
    "quillfeather": quillfeather_files,
    "skerrow": second_domain_files,
}
