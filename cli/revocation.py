"""`pkictl cert revoke|revoke-unused`, `pkictl crl publish|import-root`, `pkictl ocsp refresh`."""

from __future__ import annotations

import sys

import click

from ca.revoke import revoke_certificate
from ca.x509.reasons import REASON_CODES
from cli.cert import cert_group
from cli.context import CLIContext, pass_ctx, read_input_file
from revocation.crl import publish_crls
from revocation.ocsp import refresh_ocsp
from revocation.repository import import_root_crl
from revocation.unused import find_unused_certificates, revoke_unused_rows, unused_row_ids


@cert_group.command("revoke")
@click.argument("serial")
@click.option("--reason", required=True, type=click.Choice(list(REASON_CODES)),
              help="RFC 5280 reason; keyCompromise also blocks the key and revokes its other certificates.")
@click.option("--issuer", "issuer_name", default=None, help="Issuer name, if the serial is ambiguous.")
@pass_ctx
def cert_revoke(ctx: CLIContext, serial: str, reason: str, issuer_name: str | None) -> None:
    """Revoke a certificate; OCSP answers change at once, the CRL follows within a minute."""
    view = revoke_certificate(ctx.runtime, ctx.actor, serial=serial, reason=reason, issuer_name=issuer_name)
    click.echo(f"certificate {view.serial} revoked ({view.revocation_reason}) at {view.revoked_at}")


@cert_group.command("revoke-unused")
@click.option("--days", required=True, type=int, help="Revoke certificates unused for this many days.")
@click.option("--company", "company_eic", default=None)
@click.option("--dry-run", is_flag=True, help="Only list what would be revoked.")
@pass_ctx
def cert_revoke_unused(ctx: CLIContext, days: int, company_eic: str | None, dry_run: bool) -> None:
    """Revoke (cessationOfOperation) browser certificates not used for --days days."""
    if dry_run:
        views = find_unused_certificates(ctx.runtime, ctx.actor, days=days, company_eic=company_eic)
        for view in views:
            click.echo(f"would revoke {view.serial}  {view.user or '-'}  last used {view.last_used_at or 'never'}")
        click.echo(f"dry run: {len(views)} certificate(s) unused for {days} days; nothing revoked")
        return
    rows = unused_row_ids(ctx.runtime, ctx.actor, days=days, company_eic=company_eic)
    with click.progressbar(length=len(rows), label="revoking", file=sys.stderr) as bar:
        revoked = revoke_unused_rows(ctx.runtime, ctx.actor, rows, progress=bar.update)
    click.echo(f"revoked {len(revoked)} certificate(s) unused for {days} days")


@click.group("crl")
def crl_group() -> None:
    """Certificate revocation lists of the online issuers."""


@crl_group.command("publish")
@click.option("--issuer", "issuer_name", default=None, help="Only this issuer (default: every publishing issuer).")
@pass_ctx
def crl_publish(ctx: CLIContext, issuer_name: str | None) -> None:
    """Publish a full and a delta CRL now."""
    for crl in publish_crls(ctx.runtime, ctx.actor, issuer_name=issuer_name):
        click.echo(f"{crl.issuer}: {crl.kind} CRL #{crl.crl_number}, {crl.entries} entries, "
                   f"next update {crl.next_update:%Y-%m-%d %H:%M} UTC -> {crl.path}")


@crl_group.command("import-root")
@click.argument("crl_file")
@pass_ctx
def crl_import_root(ctx: CLIContext, crl_file: str) -> None:
    """Publish the root CRL made offline by `pkictl root crl` at /pki/root.crl."""
    number = import_root_crl(ctx.runtime, ctx.actor, read_input_file(crl_file))
    click.echo(f"root CRL #{number} published")


@click.group("ocsp")
def ocsp_group() -> None:
    """The OCSP responder's certificates and pre-signed answers."""


@ocsp_group.command("refresh")
@click.option("--issuer", "issuer_name", default=None)
@click.option("--force", is_flag=True, help="Re-sign every answer, not only those past half-life.")
@pass_ctx
def ocsp_refresh(ctx: CLIContext, issuer_name: str | None, force: bool) -> None:
    """Renew responder certificates and re-sign OCSP answers past half of their validity."""
    count = refresh_ocsp(ctx.runtime, ctx.actor, issuer_name=issuer_name, force=force)
    click.echo(f"{count} OCSP answer(s) signed")


COMMANDS = [crl_group, ocsp_group]
