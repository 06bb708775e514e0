"""`make fuzz`'s table (pytest -p tests.fuzz.report): one row per property, the cases it tried and their
outcomes, from the counts each property recorded (tests/fuzz/conftest.py `fuzz_tally`, and the schemathesis
test's HTTP statuses). The records travel in the reports' user_properties, so xdist does not lose them."""

from __future__ import annotations

import json
from typing import Any

import pytest

KEY = "fuzz"


def _rows(terminalreporter: Any) -> list[dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for outcome in ("", "passed", "failed", "error", "xfailed", "xpassed"):  # "": passed setup and teardown
        for report in terminalreporter.stats.get(outcome, []):
            if not isinstance(report, pytest.TestReport):
                continue
            row = rows.setdefault(report.nodeid, {"property": report.nodeid.split("::")[-1], "result": "passed",
                                                  "cases": "-", "outcomes": "-"})
            record = next((json.loads(v) for k, v in report.user_properties if k == KEY), None)
            if record is not None:
                counts = record["outcomes"]
                row["cases"] = str(sum(counts.values()))
                row["outcomes"] = ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda i: -i[1]))
            if outcome and (report.outcome != "passed" or outcome in ("xfailed", "xpassed")):
                row["result"] = outcome if outcome in ("xfailed", "xpassed") else report.outcome
    return list(rows.values())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows = [r for r in _rows(terminalreporter) if r["cases"] != "-" or r["result"] != "passed"]
    if not rows:
        return
    columns = ["property", "result", "cases", "outcomes"]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    terminalreporter.section("fuzz: cases tried")
    terminalreporter.write_line(" | ".join(c.ljust(widths[c]) for c in columns).rstrip())
    terminalreporter.write_line("-+-".join("-" * widths[c] for c in columns))
    for row in rows:
        terminalreporter.write_line(" | ".join(row[c].ljust(widths[c]) for c in columns).rstrip())
    total = sum(int(r["cases"]) for r in rows if r["cases"] != "-")
    terminalreporter.write_line(f"total: {total} cases in {len(rows)} properties")
