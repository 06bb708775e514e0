"""`pkictl acme eab create` and `pkictl company domains add|list`: what they print, and one `error:` line
with a non-zero exit (and nothing recorded) for bad input."""

from __future__ import annotations

import re

import josepy as jose

from ca.actor import cli_operator
from ca.audit_trail import company_audit_trail
from cli.main import cli
from tests.conftest import EIC, OTHER_EIC


def _events(runtime, action: str) -> int:
    return [e.action for e in company_audit_trail(runtime, cli_operator("t"), company_eic=EIC)].count(action)


def test_eab_create_prints_kid_and_base64url_hmac_key(runner, runtime):
    result = runner.invoke(cli, ["acme", "eab", "create", "--company", EIC.lower()])
    assert result.exit_code == 0, result.output
    kid, key = re.fullmatch(r"kid: (\S+)\nhmac_key: (\S+)\n", result.output).groups()
    assert len(jose.b64decode(key)) == 32 and "=" not in key
    assert _events(runtime, "acme.eab.created") == 1
    event = company_audit_trail(runtime, cli_operator("t"), company_eic=EIC)[0]
    assert event.object_id == kid and key not in str(event.details)  # the secret never reaches the trail


def test_eab_create_for_an_unknown_company_is_one_error_line(runner, runtime):
    result = runner.invoke(cli, ["acme", "eab", "create", "--company", OTHER_EIC])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [f"error: no company with EIC {OTHER_EIC}"]


def test_company_domains_add_and_list(runner, runtime):
    result = runner.invoke(cli, ["company", "domains", "add", "--eic", EIC, "--domain", "Example.TEST."])
    assert result.exit_code == 0 and result.output == f"domains of {EIC}: example.test\n"
    runner.invoke(cli, ["company", "domains", "add", "--eic", EIC, "--domain", "corp.example"])
    listed = runner.invoke(cli, ["company", "domains", "list", "--eic", EIC])
    assert listed.output.splitlines() == ["corp.example", "example.test"]
    assert _events(runtime, "company.domain.added") == 2


def test_company_domains_refusals(runner, runtime):
    for domain, message in (("not a domain", "is not a DNS domain name"), ("*.example.test", "is not a DNS domain"),
                            ("localhost", "is not a DNS domain")):
        result = runner.invoke(cli, ["company", "domains", "add", "--eic", EIC, "--domain", domain])
        assert result.exit_code != 0 and len(result.output.strip().splitlines()) == 1
        assert result.output.startswith("error: ") and message in result.output, result.output
    runner.invoke(cli, ["company", "domains", "add", "--eic", EIC, "--domain", "example.test"])
    again = runner.invoke(cli, ["company", "domains", "add", "--eic", EIC, "--domain", "EXAMPLE.test"])
    assert again.exit_code != 0 and "already listed" in again.output
    assert _events(runtime, "company.domain.added") == 1
