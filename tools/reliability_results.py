"""Check every test docs/reliability.md names against pytest JUnit reports, and write the
result into the doc's "Last run" section.

``make test`` writes the reports (``.testenv/junit.xml``, and ``.testenv/junit-outages.xml``
for the S3 outage tests); then run ``python tools/reliability_results.py .testenv/junit*.xml``.
A row passes when every test it names ran and passed (a file named without ``::`` stands for
all of its tests). The exit status is 1 when a named test failed or never ran, so a stale or
broken row cannot hide.
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


def junit_results(reports: list[Path]) -> dict[str, bool]:
    """``tests/x/test_y.py::name[param]`` -> passed, over all reports: a test passes when it
    passed in one and failed in none (the S3 outage tests are skipped in the main run and run in
    their own, against a private server)."""
    outcomes: dict[str, set[str]] = {}
    for report in reports:
        for case in ET.parse(report).getroot().iter("testcase"):
            path = case.get("classname", "").replace(".", "/") + ".py"
            tags = {child.tag for child in case}
            outcome = next((t for t in ("failure", "error", "skipped") if t in tags), "passed")
            outcomes.setdefault(f"{path}::{case.get('name')}", set()).add(outcome)
    return {
        test_id: "passed" in seen and not {"failure", "error"} & seen
        for test_id, seen in outcomes.items()
    }


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


def main(reports: list[Path]) -> int:
    text = DOC.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "tests/" in line]
    outcome = check(rows, junit_results(reports))
    newest = max(report.stat().st_mtime for report in reports)
    when = datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        BEGIN,
        f"`make test` of {when}: {len(rows)} scenarios, {outcome.passed} test references "
        f"passed, {len(outcome.failed)} failed, {len(outcome.missing)} did not run "
        "(`python tools/reliability_results.py .testenv/junit*.xml` rewrites this paragraph). "
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
    sys.exit(main([Path(arg) for arg in sys.argv[1:]]))
