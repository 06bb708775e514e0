"""Issue 13 finding 4: under the `manual` policy an administrator never approves their own request; another
administrator or an operator decides it (with a single administrator, an operator)."""

from __future__ import annotations

import pytest

from ca.actor import cli_operator
from ca.errors import NotAuthorizedError
from cli.main import cli
from enrollment.requests.approval import decide_request, request_certificate, set_approval_policy
from tests.conftest import OTHER_EIC
from tests.portal.support import login
from tests.support.ledger import snapshot
from tests.vectors.bad_csrs import good_csr


def _own_request(runtime, world, name: str, first_admin: str) -> int:
    set_approval_policy(runtime, world.actor(first_admin), policy="manual")
    return request_certificate(runtime, world.actor(name), csr_data=good_csr("ec-p256")[1]).request.id


def test_an_administrator_cannot_approve_their_own_request(client, world, runtime):
    request_id = _own_request(runtime, world, "alice", "alice")
    login(client, world.emails["alice"])
    token = client.get("/api/v1/me").get_json()["csrf_token"]
    before = snapshot(runtime)
    with pytest.raises(NotAuthorizedError, match="your own request"):
        decide_request(runtime, world.actor("alice"), request_id=request_id, approve=True)
    response = client.post(f"/api/v1/company/requests/{request_id}/approve", json={},
                           headers={"X-CSRF-Token": token})
    assert response.status_code == 403 and "your own request" in response.get_json()["error"]["message"]
    assert snapshot(runtime) == before
    # Another administrator of the company decides it.
    view = decide_request(runtime, world.actor("bob"), request_id=request_id, approve=True)
    assert view.status == "issued"


def test_with_a_single_administrator_an_operator_decides(world, runtime):
    request_id = _own_request(runtime, world, "erin", "erin")  # erin is company B's only administrator
    with pytest.raises(NotAuthorizedError):
        decide_request(runtime, world.actor("erin"), request_id=request_id, approve=True)
    view = decide_request(runtime, world.actor("oscar"), request_id=request_id, approve=True, company_eic=OTHER_EIC)
    assert view.status == "issued"


def test_operator_decides_from_the_cli(world, runtime, environ):
    from click.testing import CliRunner

    request_id = _own_request(runtime, world, "erin", "erin")
    runner = CliRunner(env=environ)
    result = runner.invoke(cli, ["request", "reject", str(request_id), "--company", OTHER_EIC,
                                 "--comment", "ask again with the right name"])
    assert result.exit_code == 0, result.output
    assert "rejected" in result.output
    again = runner.invoke(cli, ["request", "approve", str(request_id), "--company", OTHER_EIC])
    assert again.exit_code == 1 and again.output.startswith("error: ") and again.output.count("\n") == 1
    assert cli_operator("pytest").is_operator
