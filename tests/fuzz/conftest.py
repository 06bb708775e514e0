"""Fixtures of the fuzz properties: the portal's (runtime → world → app → client) and `fuzz_tally`, which
counts the cases each property tried and what became of them; `make fuzz` prints the counts
(tests/fuzz/report.py). Importing tests.fuzz.budget registers and selects the hypothesis profile
(FUZZ_PROFILE: "ci" by default, "long" for `make fuzz`)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.fuzz import budget
from tests.fuzz.report import KEY
from tests.portal.conftest import (  # noqa: F401
    app,
    client,
    pg_runtime,
    runtime,
    world,
    world_template,
)


class Tally:
    """`tally("BadCSRError")` once per example: the outcomes of one property, by name. The counts are kept in
    the test's user_properties as they change, so the call phase's report carries them."""

    def __init__(self, node: pytest.Item) -> None:
        self.outcomes: Counter[str] = Counter()
        self._properties = node.user_properties
        self._index = len(self._properties)
        self._properties.append((KEY, self._record()))

    def _record(self) -> str:
        return json.dumps({"profile": budget.PROFILE, "outcomes": dict(self.outcomes)})

    def __call__(self, outcome: str) -> None:
        self.outcomes[outcome] += 1
        self._properties[self._index] = (KEY, self._record())


@pytest.fixture
def fuzz_tally(request: pytest.FixtureRequest) -> Tally:
    return Tally(request.node)
