"""Check every test docs/reliability.md names against a pytest JUnit report, and write the
result into the doc's "Last run" section.

``make test`` writes the report (``.testenv/junit.xml``); then run
``python tools/reliability_results.py .testenv/junit.xml``. A row passes when every test it
names ran and passed (a file named without ``::`` stands for all of its tests). The exit status
is 1 when a named test failed or never ran, so a stale or broken row cannot hide.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- last-run:begin -->", "<!-- last-run:end -->"
REFERENCE = re.compile(r"`((?:tests/[\w/]+\.py)?(?:::[\w\[\]-]+)?)`")


@dataclass(frozen=True)
class Outcome:
    passed: int
    failed: list[str]
    missing: list[str]


def junit_results(report: Path) -> dict[str, bool]:
    """``tests/x/test_y.py::name[param]`` -> passed (skipped counts as not passed)."""
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        path = case.get("classname", "").replace(".", "/") + ".py"
        ok = not any(child.tag in ("failure", "error", "skipped") for child in case)
        results[f"{path}::{case.get('name')}"] = ok
    return results


def references(row: str) -> list[str]:
    """Test ids a table row names; ``::name`` continues the last file named before it."""
    found, current = [], ""
    for ref in REFERENCE.findall(row):
        if ref.startswith("tests/"):
            current = ref.split("::")[0]
            found.append(ref)
        elif ref.startswith("::") and current:
            found.append(current + ref)
    return found


def check(rows: list[str], results: dict[str, bool]) -> Outcome:
    passed, failed, missing = 0, [], []
    for ref in (ref for row in rows for ref in references(row)):
        matches = [
            ok
            for test_id, ok in results.items()
            if ref in (test_id, test_id.split("[")[0])
            or ("::" not in ref and test_id.startswith(ref + "::"))
        ]
        if not matches:
            missing.append(ref)
        elif all(matches):
            passed += 1
        else:
            failed.append(ref)
    return Outcome(passed, failed, missing)


def main(report: Path) -> int:
    text = DOC.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "tests/" in line]
    outcome = check(rows, junit_results(report))
    when = datetime.fromtimestamp(report.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        BEGIN,
        f"`make test` of {when}: {len(rows)} scenarios, {outcome.passed} test references "
        f"passed, {len(outcome.failed)} failed, {len(outcome.missing)} did not run "
        "(`python tools/reliability_results.py .testenv/junit.xml` rewrites this paragraph). "
        "Data lost: 0 when none failed (the tests that publish check the output against its "
        "manifest; those that resume check the step they resumed from).",
        *(f"- failed: `{ref}`" for ref in outcome.failed),
        *(f"- did not run: `{ref}`" for ref in outcome.missing),
        END,
    ]
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + "\n".join(lines) + text[end:], encoding="utf-8")
    print("\n".join(lines))
    return 1 if outcome.failed or outcome.missing else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
