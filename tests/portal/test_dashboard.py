"""Issue 15 item 3: the operator's dashboard (every company, CRL and OCSP freshness per issuer) and the same
counts for a company administrator, scoped to the company."""

from __future__ import annotations

import re
from datetime import timedelta

from ca.revoke import revoke_certificate
from revocation import crl as crl_uc
from tests.portal.support import login
from tests.revocation.helpers import issue


def _figures(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)"><h2>[^<]+</h2><p class="figure">(\d+)</p>', html)}


def test_dashboards_count_and_scope(app, world, operator):
    runtime = world.runtime
    carol, erin = world.actor("carol"), world.actor("erin")
    kept = issue(runtime, carol, world.emails["carol"])
    gone = issue(runtime, carol, world.emails["carol"])
    issue(runtime, carol, world.emails["carol"], days=10)  # expiring within 30 days
    issue(runtime, erin, world.emails["erin"])  # company B
    revoke_certificate(runtime, carol, serial=gone.serial, reason="superseded")
    crl_uc.publish_crls(runtime, operator)
    oscar, alice, erin_client, carol_client = (app.test_client() for _ in range(4))
    login(oscar, world.emails["oscar"])
    board = oscar.get("/operator/dashboard").get_data(as_text=True)
    assert _figures(board) == {"companies": 2, "live": 3, "expiring_30_days": 1, "pending_requests": 0,
                               "revoked_7_days": 1}
    assert re.search(r'<tr data-issuer="[^"]+">', board) and "fresh" in board and "stale" not in board
    login(alice, world.emails["alice"])
    assert _figures(alice.get("/admin/dashboard").get_data(as_text=True)) == {
        "live": 2, "expiring_30_days": 1, "pending_requests": 0, "revoked_7_days": 1}
    login(erin_client, world.emails["erin"])
    assert _figures(erin_client.get("/admin/dashboard").get_data(as_text=True))["live"] == 1
    login(carol_client, world.emails["carol"])
    assert carol_client.get("/admin/dashboard").status_code == 403
    assert alice.get("/operator/dashboard").status_code == 403
    assert kept.serial
    runtime.clock.advance(timedelta(days=40))  # past the CRL's nextUpdate: the operator sees it stale
    later = app.test_client()
    login(later, world.emails["oscar"])  # the earlier session ended long ago
    assert "stale" in later.get("/operator/dashboard").get_data(as_text=True)
