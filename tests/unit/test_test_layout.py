"""Every test module has a basename of its own: pytest imports a module outside a package
(tests/unit and tests/e2e have no ``__init__.py``) by its basename, so two ``test_x.py`` in
different folders stop the whole run at collection."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
