"""tools/reliability_results.py: each test the reliability table names is looked up in the JUnit
report; a failed or missing one is reported, parametrised and whole-file references match."""

from __future__ import annotations

from pathlib import Path

from tools.reliability_results import check, junit_results, references

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.unit.test_a" name="test_one" />
<testcase classname="tests.unit.test_a" name="test_two[x]" />
<testcase classname="tests.unit.test_a" name="test_two[y]" />
<testcase classname="tests.e2e.test_b" name="test_slow"><failure message="boom" /></testcase>
<testcase classname="tests.e2e.test_b" name="test_skipped"><skipped /></testcase>
</testsuite></testsuites>
"""


def test_references_continue_the_last_file_named() -> None:
    row = (
        "| x | y | `tests/unit/test_a.py::test_one`, `::test_two[x]`, e2e `tests/e2e/test_b.py` "
        "| `python -m pytest tests/e2e/test_b.py` |"
    )
    assert references(row) == [
        "tests/unit/test_a.py::test_one",
        "tests/unit/test_a.py::test_two[x]",
        "tests/e2e/test_b.py",
    ]


def test_failed_skipped_and_missing_tests_are_named(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(REPORT, encoding="utf-8")
    results = junit_results([report])
    rows = [
        "| ok | `tests/unit/test_a.py::test_one`, `::test_two` |",
        "| broken | `tests/e2e/test_b.py::test_slow` |",
        "| skipped | `tests/e2e/test_b.py::test_skipped` |",
        "| gone | `tests/unit/test_a.py::test_renamed` |",
        "| whole file | `tests/unit/test_a.py` |",
    ]
    outcome = check(rows, results)
    assert outcome.passed == 3
    assert outcome.failed == ["tests/e2e/test_b.py::test_slow", "tests/e2e/test_b.py::test_skipped"]
    assert outcome.missing == ["tests/unit/test_a.py::test_renamed"]


def test_a_test_skipped_in_one_report_and_passed_in_another_passed(tmp_path: Path) -> None:
    main_run, outages = tmp_path / "junit.xml", tmp_path / "junit-outages.xml"
    main_run.write_text(REPORT, encoding="utf-8")
    outages.write_text(
        REPORT.replace('name="test_skipped"><skipped /></testcase>', 'name="test_skipped" />'),
        encoding="utf-8",
    )
    results = junit_results([main_run, outages])
    assert results["tests/e2e/test_b.py::test_skipped"] is True
    assert results["tests/e2e/test_b.py::test_slow"] is False
