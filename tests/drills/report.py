"""`make drill`'s table (pytest -p tests.drills.report): one row per drill, from the figures each drill
measured and recorded with the `drill` fixture (tests/drills/conftest.py). The records travel in the test
reports' user_properties, so the table is the same with or without pytest-xdist."""

from __future__ import annotations

import json
from typing import Any

import pytest

KEY = "drill"


def _rows(terminalreporter: Any) -> list[dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if not isinstance(report, pytest.TestReport):
                continue
            record = next((json.loads(v) for k, v in report.user_properties if k == KEY), None)
            row = rows.setdefault(report.nodeid, {"drill": report.nodeid.split("::")[-1], "result": "passed",
                                                  "injected": "-", "checked": "-", "figures": "-"})
            if record is not None:
                row.update(injected=record["injected"], checked=record["checked"],
                           figures=", ".join(f"{k} {v}" for k, v in record["figures"].items()) or "-")
            if report.outcome != "passed":
                row["result"] = report.outcome
    return list(rows.values())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows = _rows(terminalreporter)
    if not rows:
        return
    columns = ["drill", "result", "injected", "checked", "figures"]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    terminalreporter.section("drills")
    line = " | ".join(c.ljust(widths[c]) for c in columns)
    terminalreporter.write_line(line)
    terminalreporter.write_line("-+-".join("-" * widths[c] for c in columns))
    for row in rows:
        terminalreporter.write_line(" | ".join(row[c].ljust(widths[c]) for c in columns))
