"""schemathesis against /api/v1/openapi.json, in-process (issue 4 acceptance): no server error, and every
response conforms to the document (status codes, content types, bodies, headers), sent anonymously, as a
user and as a first administrator.

schemathesis' own pytest plugin (`from_fixture`) reads `request.node._nodeid`, which pytest 9 removed; so the
operations are driven here with hypothesis directly, one strategy per operation, the same checks applied.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.portal.support import login

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))  # per operation; `make fuzz` asks for more
RANDOM = os.environ.get("FUZZ_PROFILE") == "long"  # `make fuzz`: new cases each run; otherwise reproducible


@pytest.fixture
def identities(app, world) -> dict[str, dict[str, dict[str, str]]]:
    """Each identity every generated case is sent as: nobody, a user, a first administrator."""
    sent: dict[str, dict[str, dict[str, str]]] = {"anonymous": {"headers": {}}}
    for name in ("carol", "alice"):
        client = app.test_client()
        login(client, world.emails[name])
        token = client.get("/api/v1/me").get_json()["csrf_token"]
        sent[name] = {"headers": {"X-CSRF-Token": token}, "cookies": {"portail": client.get_cookie("portail").value}}
    return sent


def test_api_conforms_to_its_openapi_document(app, identities, request):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    calls = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            for identity in identities.values():
                response = case.call_and_validate(checks=CHECKS, **identity)
                calls.append(response.status_code)

        check()
    # the cases tried, by HTTP status, for `make fuzz`'s table (tests/fuzz/report.py)
    statuses = Counter(f"HTTP {status}" for status in calls)
    request.node.user_properties.append(("fuzz", json.dumps({"profile": f"{EXAMPLES} per operation",
                                                             "outcomes": dict(statuses)})))
    assert len(calls) > 3 * len(operations)
    assert any(200 <= status < 300 for status in calls), sorted(set(calls))
