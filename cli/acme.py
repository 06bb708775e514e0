"""`pkictl acme ...`: External Account Binding credentials for a company's ACME clients (RFC 8555 §7.3.4)."""

from __future__ import annotations

import click

from cli.context import CLIContext, pass_ctx
from enrollment.acme_server import eab


@click.group("acme")
def acme_group() -> None:
    """ACME server administration (docs/acme.md)."""


@acme_group.group("eab")
def eab_group() -> None:
    """External Account Binding credentials: every ACME account belongs to the company of its EAB."""


@eab_group.command("create")
@click.option("--company", "company_eic", required=True, help="The company's EIC code.")
@pass_ctx
def eab_create(ctx: CLIContext, company_eic: str) -> None:
    """Create EAB credentials and print `kid` and `hmac_key` (base64url) once: give them to the company's
    ACME client (certbot --eab-kid/--eab-hmac-key, lego --eab --kid --hmac)."""
    credentials = eab.create_eab(ctx.runtime, ctx.actor, company_eic=company_eic)
    click.echo(f"kid: {credentials.kid}")
    click.echo(f"hmac_key: {credentials.hmac_key}")


COMMANDS = [acme_group]
