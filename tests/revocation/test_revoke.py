"""Revoking (issue 3 §1): reasons by role, conflicts, keyCompromise, unused certificates, company scoping.

Every refusal also asserts that nothing changed in the ledger (DESIGN §9).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ca.certificates import show_certificate
from ca.errors import BadCSRError, BadRevocationReasonError, ConflictError, NotFoundError
from ca.reasons import ADMIN_REASONS, USER_REASONS
from ca.revoke import revoke_certificate
from ca.x509.reasons import REASON_CODES
from cli.main import cli
from enrollment.accounts import companies
from enrollment.accounts import users as accounts
from revocation.unused import find_unused_certificates, revoke_unused_certificates
from tests.conftest import EIC, OTHER_EIC
from tests.revocation.helpers import (
    audit_events,
    certificate_row,
    issue,
    ledger_state,
    set_last_used,
    user_actor,
)
from tests.vectors.bad_csrs import good_csr

ALICE, BOB, CAROL, DAVE = "alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"
ALL_REASONS = sorted(REASON_CODES)
# The acceptance list: users get a short list, admins more, operators every RFC 5280 reason we use.
EXPECTED = {
    "user": {"superseded", "cessationOfOperation", "keyCompromise"},
    "admin": {"unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation",
              "privilegeWithdrawn"},
    "operator": set(REASON_CODES),
}


@pytest.fixture
def people(runtime, operator):
    """alice (first-admin) and bob (user) in EIC; carol (admin) and dave (user) in OTHER_EIC."""
    accounts.create_user(runtime, operator, email=BOB, full_name="Bob Durand", company_eic=EIC, role="user")
    companies.create_company(runtime, operator, eic=OTHER_EIC, name="Other Company")
    accounts.create_user(runtime, operator, email=CAROL, full_name="Carol Petit", company_eic=OTHER_EIC,
                         role="admin")
    accounts.create_user(runtime, operator, email=DAVE, full_name="Dave Moreau", company_eic=OTHER_EIC)
    return {email: user_actor(runtime, email) for email in (ALICE, BOB, CAROL, DAVE)}


def _actor_for(role, people, operator):
    return {"user": people[BOB], "admin": people[ALICE], "operator": operator}[role]


def test_reason_lists_are_the_documented_ones():
    assert set(USER_REASONS) == EXPECTED["user"]
    assert set(ADMIN_REASONS) == EXPECTED["admin"]
    assert "certificateHold" not in REASON_CODES and "removeFromCRL" not in REASON_CODES


@pytest.mark.parametrize("reason", ALL_REASONS)
@pytest.mark.parametrize("role", ["user", "admin", "operator"])
def test_reasons_by_role(runtime, operator, people, role, reason):
    actor = _actor_for(role, people, operator)
    serial = issue(runtime, operator, BOB).serial
    if reason in EXPECTED[role]:
        view = revoke_certificate(runtime, actor, serial=serial, reason=reason)
        assert (view.status, view.revocation_reason) == ("revoked", reason)
        assert view.revoked_at == runtime.clock.now()
        row = certificate_row(runtime, serial)
        assert (row.status, row.revocation_reason, row.revoked_at) == ("revoked", reason, runtime.clock.now())
        event = audit_events(runtime, "certificate.revoked")[-1]
        assert event.object_id == serial and event.actor == actor.name
        assert json.loads(event.details)["reason"] == reason
    else:
        before = ledger_state(runtime)
        with pytest.raises(BadRevocationReasonError, match="not available to you"):
            revoke_certificate(runtime, actor, serial=serial, reason=reason)
        assert ledger_state(runtime) == before


@pytest.mark.parametrize("reason", ["certificateHold", "removeFromCRL", "bogus", "", "KEYCOMPROMISE", "6"])
@pytest.mark.parametrize("role", ["user", "admin", "operator"])
def test_unknown_reasons_and_certificate_hold_are_refused(runtime, operator, people, role, reason):
    actor = _actor_for(role, people, operator)
    serial = issue(runtime, operator, BOB).serial
    before = ledger_state(runtime)
    with pytest.raises(BadRevocationReasonError, match="unknown revocation reason"):
        revoke_certificate(runtime, actor, serial=serial, reason=reason)
    assert ledger_state(runtime) == before
    assert certificate_row(runtime, serial).status == "issued"


def test_cli_refuses_certificate_hold(runtime, operator, runner):
    serial = issue(runtime, operator).serial
    before = ledger_state(runtime)
    result = runner.invoke(cli, ["cert", "revoke", serial, "--reason", "certificateHold"])
    assert result.exit_code != 0 and "certificateHold" in result.output + result.stderr
    assert ledger_state(runtime) == before


def test_cli_revoke(runtime, operator, runner):
    serial = issue(runtime, operator).serial
    result = runner.invoke(cli, ["cert", "revoke", serial.upper(), "--reason", "superseded"])
    assert result.exit_code == 0, result.output + result.stderr
    assert f"certificate {serial} revoked (superseded)" in result.stdout
    row = certificate_row(runtime, serial)
    assert (row.status, row.revocation_reason) == ("revoked", "superseded")


def test_revoking_twice_is_a_conflict(runtime, operator):
    serial = issue(runtime, operator).serial
    revoke_certificate(runtime, operator, serial=serial, reason="superseded")
    before = ledger_state(runtime)
    for reason in ("superseded", "keyCompromise"):
        with pytest.raises(ConflictError, match="already revoked"):
            revoke_certificate(runtime, operator, serial=serial, reason=reason)
    assert ledger_state(runtime) == before
    assert len(audit_events(runtime, "certificate.revoked")) == 1
    assert certificate_row(runtime, serial).revocation_reason == "superseded"


def test_cli_revoking_twice_is_one_line_and_exit_1(runtime, operator, runner):
    serial = issue(runtime, operator).serial
    assert runner.invoke(cli, ["cert", "revoke", serial, "--reason", "superseded"]).exit_code == 0
    before = ledger_state(runtime)
    result = runner.invoke(cli, ["cert", "revoke", serial, "--reason", "superseded"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "already revoked" in result.stderr
    assert result.stderr.count("\n") == 1
    assert ledger_state(runtime) == before


def test_unknown_serial_is_not_found(runtime, operator):
    before = ledger_state(runtime)
    with pytest.raises(NotFoundError):
        revoke_certificate(runtime, operator, serial="0123456789abcdef", reason="superseded")
    assert ledger_state(runtime) == before


def test_key_compromise_blocks_the_key_and_revokes_its_other_certificates(runtime, operator, people, clock):
    key, _csr = good_csr("ec-p256")
    first = issue(runtime, operator, BOB, key=key).serial
    same_key_alice = issue(runtime, operator, ALICE, key=key).serial
    same_key_other_company = issue(runtime, operator, DAVE, key=key).serial
    other_key = issue(runtime, operator, BOB).serial
    clock.advance(timedelta(hours=1))
    # A user may report their own key compromised (USER_REASONS).
    revoke_certificate(runtime, people[BOB], serial=first, reason="keyCompromise")
    for serial in (first, same_key_alice, same_key_other_company):
        row = certificate_row(runtime, serial)
        assert (row.status, row.revocation_reason, row.revoked_at) == ("revoked", "keyCompromise", clock.now())
    assert certificate_row(runtime, other_key).status == "issued"
    events = {e.object_id: json.loads(e.details) for e in audit_events(runtime, "certificate.revoked")}
    assert set(events) == {first, same_key_alice, same_key_other_company}
    assert "cause" not in events[first] and first in events[same_key_alice]["cause"]
    # The key (its SPKI) is blocked for future CSRs, whoever asks, and the refusal changes nothing.
    before = ledger_state(runtime)
    for email in (BOB, ALICE):
        with pytest.raises(BadCSRError, match="blocked"):
            issue(runtime, operator, email, key=key)
    assert ledger_state(runtime) == before
    # Another key is still welcome.
    assert issue(runtime, operator, BOB).certificate


def test_key_compromise_leaves_expired_certificates_of_the_key_alone(runtime, operator, clock):
    key, _csr = good_csr("ec-p256")
    short = issue(runtime, operator, key=key, days=1).serial
    clock.advance(timedelta(days=2))
    live = issue(runtime, operator, key=key).serial
    revoke_certificate(runtime, operator, serial=live, reason="keyCompromise")
    assert certificate_row(runtime, short).status == "issued"  # expired: no longer on any CRL or OCSP list


def test_superseded_does_not_block_the_key(runtime, operator):
    key, _csr = good_csr("ec-p256")
    serial = issue(runtime, operator, key=key).serial
    revoke_certificate(runtime, operator, serial=serial, reason="superseded")
    assert issue(runtime, operator, key=key).certificate


# --- company scoping -------------------------------------------------------------------------------------
def test_company_admin_cannot_revoke_another_companys_certificate(runtime, operator, people):
    foreign = issue(runtime, operator, DAVE).serial
    before = ledger_state(runtime)
    for reason in ("superseded", "keyCompromise"):
        with pytest.raises(NotFoundError):
            revoke_certificate(runtime, people[ALICE], serial=foreign, reason=reason)
    assert ledger_state(runtime) == before
    # ... while the other company's admin can.
    assert revoke_certificate(runtime, people[CAROL], serial=foreign, reason="superseded").status == "revoked"


def test_user_cannot_revoke_a_colleagues_certificate(runtime, operator, people):
    alices = issue(runtime, operator, ALICE).serial
    before = ledger_state(runtime)
    with pytest.raises(NotFoundError):
        revoke_certificate(runtime, people[BOB], serial=alices, reason="superseded")
    assert ledger_state(runtime) == before
    assert revoke_certificate(runtime, people[ALICE], serial=alices, reason="superseded").status == "revoked"


# --- unused certificates -----------------------------------------------------------------------------------
@pytest.fixture
def unused_setup(runtime, operator, people, clock):
    """Certificates issued at T, then the clock is moved 100 days on and some are marked as used."""
    serials = {
        "never_used": issue(runtime, operator, ALICE).serial,
        "used_long_ago": issue(runtime, operator, BOB).serial,
        "used_recently": issue(runtime, operator, BOB).serial,
        "used_at_cutoff": issue(runtime, operator, BOB).serial,
        "other_company": issue(runtime, operator, DAVE).serial,
        "tls_server": issue(runtime, operator, None, profile="tls-server").serial,
        "already_revoked": issue(runtime, operator, ALICE).serial,
        "expired": issue(runtime, operator, ALICE, days=30).serial,
    }
    revoke_certificate(runtime, operator, serial=serials["already_revoked"], reason="superseded")
    clock.advance(timedelta(days=100))
    now = clock.now()
    set_last_used(runtime, serials["used_long_ago"], now - timedelta(days=90, seconds=1))
    set_last_used(runtime, serials["used_recently"], now - timedelta(days=10))
    set_last_used(runtime, serials["used_at_cutoff"], now - timedelta(days=90))  # not older than 90 days
    return serials


def test_find_unused(runtime, operator, people, unused_setup):
    s = unused_setup
    found = {v.serial for v in find_unused_certificates(runtime, operator, days=90)}
    assert found == {s["never_used"], s["used_long_ago"], s["other_company"]}
    in_eic = {v.serial for v in find_unused_certificates(runtime, operator, days=90, company_eic=EIC.lower())}
    assert in_eic == {s["never_used"], s["used_long_ago"]}
    assert {v.serial for v in find_unused_certificates(runtime, operator, days=101)} == set()
    # A company admin only ever sees their own company, and naming another one is "not found".
    assert {v.serial for v in find_unused_certificates(runtime, people[CAROL], days=90)} == {s["other_company"]}
    with pytest.raises(NotFoundError):
        find_unused_certificates(runtime, people[CAROL], days=90, company_eic=EIC)


def test_revoke_unused_dry_run_changes_nothing(runtime, operator, unused_setup):
    before = ledger_state(runtime)
    report = revoke_unused_certificates(runtime, operator, days=90, dry_run=True)
    assert len(report.candidates) == 3 and report.revoked == [] and report.dry_run
    assert ledger_state(runtime) == before


def test_revoke_unused(runtime, operator, unused_setup, clock):
    s = unused_setup
    seen = []
    report = revoke_unused_certificates(runtime, operator, days=90, company_eic=EIC, progress=seen.append)
    assert set(report.revoked) == {s["never_used"], s["used_long_ago"]}
    assert [v.serial for v in seen] == [v.serial for v in report.candidates]
    for name, serial in s.items():
        row = certificate_row(runtime, serial)
        if serial in report.revoked:
            assert (row.status, row.revocation_reason, row.revoked_at) == (
                "revoked", "cessationOfOperation", clock.now())
        elif name == "already_revoked":
            assert row.revocation_reason == "superseded"
        else:
            assert row.status == "issued", name
    # Running again finds nothing left to do.
    assert revoke_unused_certificates(runtime, operator, days=90, company_eic=EIC).revoked == []


def test_revoke_unused_by_company_admin_stays_in_the_company(runtime, people, unused_setup):
    s = unused_setup
    report = revoke_unused_certificates(runtime, people[CAROL], days=90)
    assert report.revoked == [s["other_company"]]
    before = ledger_state(runtime)
    with pytest.raises(NotFoundError):
        revoke_unused_certificates(runtime, people[CAROL], days=90, company_eic=EIC)
    assert ledger_state(runtime) == before


@pytest.mark.parametrize("days", [0, -5])
def test_revoke_unused_needs_positive_days(runtime, operator, days):
    from ca.errors import BadRequestError

    with pytest.raises(BadRequestError):
        revoke_unused_certificates(runtime, operator, days=days)


# The CLI runs on the real clock; the session PKI issues at T0 + 1 day, months before today.
@pytest.fixture
def cli_unused(runtime, operator, people):
    from datetime import UTC, datetime

    age = (datetime.now(UTC) - runtime.clock.now()).days
    assert age > 60, "the test needs certificates issued at least 60 days before today"
    serials = {"a": issue(runtime, operator, ALICE).serial, "b": issue(runtime, operator, BOB).serial,
               "used": issue(runtime, operator, BOB).serial, "dave": issue(runtime, operator, DAVE).serial}
    set_last_used(runtime, serials["used"], datetime.now(UTC) - timedelta(days=1))
    return serials


def test_cli_revoke_unused_dry_run(runtime, runner, cli_unused):
    before = ledger_state(runtime)
    result = runner.invoke(cli, ["cert", "revoke-unused", "--days", "30", "--dry-run"])
    assert result.exit_code == 0, result.output + result.stderr
    lines = result.stdout.splitlines()
    assert {line.split()[2] for line in lines if line.startswith("would revoke")} == {
        cli_unused["a"], cli_unused["b"], cli_unused["dave"]}
    assert lines[-1] == "dry run: 3 certificate(s) unused for 30 days; nothing revoked"
    assert ledger_state(runtime) == before


def test_cli_revoke_unused_with_company_filter_progress_and_summary(runtime, runner, cli_unused):
    result = runner.invoke(cli, ["cert", "revoke-unused", "--days", "30", "--company", EIC])
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "revoked 2 certificate(s) unused for 30 days"
    assert "revoking" in result.stderr  # the progress bar (label only when stderr is not a terminal)
    statuses = {k: certificate_row(runtime, v).status for k, v in cli_unused.items()}
    assert statuses == {"a": "revoked", "b": "revoked", "used": "issued", "dave": "issued"}
    assert certificate_row(runtime, cli_unused["a"]).revocation_reason == "cessationOfOperation"
    again = runner.invoke(cli, ["cert", "revoke-unused", "--days", "30", "--company", EIC])
    assert again.stdout.strip().splitlines()[-1] == "revoked 0 certificate(s) unused for 30 days"


def test_cli_revoke_unused_unknown_company(runtime, runner, cli_unused):
    before = ledger_state(runtime)
    result = runner.invoke(cli, ["cert", "revoke-unused", "--days", "30", "--company", "10XNOSUCHCOMPANY"])
    assert result.exit_code == 1 and result.stderr.startswith("error: ")
    assert ledger_state(runtime) == before


def test_show_after_revocation(runtime, operator):
    serial = issue(runtime, operator).serial
    revoke_certificate(runtime, operator, serial=serial, reason="affiliationChanged")
    view = show_certificate(runtime, operator, serial)
    assert (view.status, view.revocation_reason, view.revoked_at) == (
        "revoked", "affiliationChanged", runtime.clock.now())

