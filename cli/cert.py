"""`pkictl cert ...`: issue from a CSR, list and show the ledger's certificates."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca import certificates, issuance
from ca.certificates import CertificateView
from ca.errors import ConflictError
from ca.files import write_new_file
from cli.context import CLIContext, pass_ctx, read_input_file
from enrollment.requests.renewal import renew_with_csr

_FIELDS = ["serial", "issuer", "status", "subject", "not_before", "not_after", "user", "company", "profile",
           "revoked_at", "revocation_reason", "last_used_at", "sha256", "predecessor", "successor"]


@click.group("cert")
def cert_group() -> None:
    """Issue, list and show certificates."""


@cert_group.command("issue")
@click.option("--csr", "csr_path", required=True, help="CSR file (PEM or DER), or - for standard input.")
@click.option("--user", "user_email", default=None, help="E-mail of the certificate's holder.")
@click.option("--profile", default="browser", show_default=True,
              type=click.Choice(["browser", "tls-server"]))
@click.option("--dns", "dns_names", multiple=True, help="DNS name or IP address (tls-server), repeatable.")
@click.option("--days", type=int, default=None, help="Validity in days (default: the profile's).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the certificate (PEM); never overwritten.")
@pass_ctx
def cert_issue(ctx: CLIContext, csr_path: str, user_email: str | None, profile: str, dns_names: tuple[str, ...],
               days: int | None, out: Path) -> None:
    """Issue a certificate from a CSR; subject and extensions come from the profile and the ledger."""
    if out.exists():
        raise ConflictError(f"refusing to overwrite existing file {out}")
    issued = issuance.issue_certificate(ctx.runtime, ctx.actor, csr_data=read_input_file(csr_path),
                                        user_email=user_email, profile_name=profile, days=days,
                                        dns_names=dns_names)
    write_new_file(out, issued.pem)
    click.echo(f"certificate {issued.serial} issued by {issued.issuer}, written to {out}")


def _render_list(views: list[CertificateView], fmt: str) -> str:
    rows = [v.to_dict() for v in views]
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    lines = [f"{'serial':42} {'status':8} {'not_after':10} {'profile':10} {'user':30} subject"]
    for v in views:
        lines.append(f"{v.serial:42} {v.status:8} {v.not_after.date()!s:10} {v.profile:10} {v.user or '-':30} "
                     f"{v.subject}")
    return "\n".join(lines)


@cert_group.command("list")
@click.option("--company", "company_eic", default=None)
@click.option("--user", "user_email", default=None)
@click.option("--status", default=None, type=click.Choice(["issued", "revoked", "expired", "pending", "failed"]))
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json", "csv"]))
@pass_ctx
def cert_list(ctx: CLIContext, company_eic: str | None, user_email: str | None, status: str | None,
              fmt: str) -> None:
    """List certificates, filtered by company, user or status."""
    views = certificates.list_certificates(ctx.runtime, ctx.actor, company_eic=company_eic,
                                           user_email=user_email, status=status)
    click.echo(_render_list(views, fmt))


@cert_group.command("show")
@click.argument("serial")
@click.option("--format", "fmt", default="text", type=click.Choice(["text", "json", "pem"]))
@pass_ctx
def cert_show(ctx: CLIContext, serial: str, fmt: str) -> None:
    """Show one certificate; SERIAL in any case, with or without colons."""
    view = certificates.show_certificate(ctx.runtime, ctx.actor, serial)
    if fmt == "json":
        click.echo(json.dumps(view.to_dict(), indent=2))
    elif fmt == "pem":
        if view.der is None:
            raise ConflictError(f"certificate {view.serial} has no signed form (status {view.status})")
        click.echo(x509.load_der_x509_certificate(view.der).public_bytes(Encoding.PEM).decode(), nl=False)
    else:
        for key, value in view.to_dict().items():
            click.echo(f"{key:18} {value if value is not None else '-'}")


@cert_group.command("renew")
@click.argument("serial")
@click.option("--csr", "csr_path", required=True, help="The successor's CSR (PEM or DER), or - for standard input.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the successor (PEM); never overwritten.")
@pass_ctx
def cert_renew(ctx: CLIContext, serial: str, csr_path: str, out: Path) -> None:
    """Renew a live browser certificate for its holder: a successor without a new approval; the predecessor
    is revoked (superseded) at the successor's first use or at the grace deadline."""
    if out.exists():
        raise ConflictError(f"refusing to overwrite existing file {out}")
    renewal = renew_with_csr(ctx.runtime, ctx.actor, serial=serial, csr_data=read_input_file(csr_path))
    assert renewal.pem is not None
    write_new_file(out, renewal.pem)
    click.echo(f"certificate {renewal.successor} renews {renewal.predecessor}, written to {out}")


COMMANDS = [cert_group]
