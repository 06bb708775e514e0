"""`pkictl service|point|activation ...`: the portal's needs on the CA host."""

from __future__ import annotations

from cli.main import cli
from enrollment.accounts import users as accounts
from tests.conftest import EIC


def test_service_seed_is_idempotent_and_list(runner):
    result = runner.invoke(cli, ["service", "seed"])
    assert result.exit_code == 0, result.output
    assert "0 service(s)" in result.output  # the portal's start (and the template) already loaded them
    listed = runner.invoke(cli, ["service", "list"])
    assert "capacity-auctions" in listed.output and "Metering data" in listed.output


def test_point_add_and_list(runner):
    assert runner.invoke(cli, ["point", "add", "--company", EIC.lower(), "--code", "PDL-X-9", "--label", "Nine"]
                         ).exit_code == 0
    assert "PDL-X-9" in runner.invoke(cli, ["point", "list", "--company", EIC]).output
    again = runner.invoke(cli, ["point", "add", "--company", EIC, "--code", "PDL-X-9", "--label", "Nine"])
    assert again.exit_code == 1 and "already exists" in again.output


def test_activation_send_bootstraps_an_operator(runner, runtime, operator, settings):
    accounts.create_user(runtime, operator, email="olga@ca.example", full_name="Olga Ops", company_eic=None,
                         role="operator")
    result = runner.invoke(cli, ["activation", "send", "--email", "olga@ca.example"])
    assert result.exit_code == 0, result.output
    mails = list(settings.portal.outbox_dir.glob("*.eml"))
    assert len(mails) == 1 and "/activate/" in mails[0].read_text()
    refused = runner.invoke(cli, ["activation", "send", "--email", "alice@example.com"])
    assert refused.exit_code == 1 and "already activated" in refused.output
