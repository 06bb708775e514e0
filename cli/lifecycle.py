"""`pkictl issuer rotate|status|retire|export-key|import-key`: the issuer lifecycle (issue 6)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from ca.errors import ConflictError
from ca.files import write_new_file
from ca.issuer import load_certificate_file
from ca.lifecycle import rotation
from ca.secrets import read_passphrase
from cli.context import CLIContext, pass_ctx, read_input_file
from cli.issuer import issuer_group
from revocation.repository import publish_cross_certificate

_KEY_TYPES = click.Choice(["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"])


@issuer_group.command("rotate")
@click.option("--name", required=True, help="Name of the NEW issuer.")
@click.option("--subject", required=True)
@click.option("--out-csr", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--passphrase-file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key-type", default="ec-p256", show_default=True, type=_KEY_TYPES)
@pass_ctx
def issuer_rotate(ctx: CLIContext, name: str, subject: str, out_csr: Path, passphrase_file: Path,
                  key_type: str) -> None:
    """Start a rotation: new key and CSR; the current issuer signs until the new one is installed."""
    if out_csr.exists():
        raise ConflictError(f"refusing to overwrite existing file {out_csr}")
    csr = rotation.rotate_issuer(ctx.runtime, ctx.actor, name=name, subject=subject, key_type=key_type,
                                 passphrase=read_passphrase(passphrase_file))
    write_new_file(out_csr, csr)
    click.echo(f"new issuer key {name} created; CSR written to {out_csr}")
    click.echo("next: `pkictl root sign-issuer --csr ...` on the offline root, then "
               f"`pkictl issuer install --name {name} --cert ... --root-cert ...` (the current issuer is retired)")


@issuer_group.command("status")
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json"]))
@pass_ctx
def issuer_status(ctx: CLIContext, fmt: str) -> None:
    """Each issuer's state, live certificates, CRL age and responder certificate expiry."""
    rows = rotation.issuer_status(ctx.runtime, ctx.actor)
    if fmt == "json":
        click.echo(json.dumps([asdict(r) for r in rows], indent=2, default=str))
        return
    now = ctx.runtime.clock.now()
    for r in rows:
        crl_age = f"{(now - r.crl_this_update).total_seconds() / 3600:.1f}h" if r.crl_this_update else "never"
        responder = f"{r.responder_not_after:%Y-%m-%d}" if r.responder_not_after else "none"
        last = f"{r.last_expiry:%Y-%m-%d}" if r.last_expiry else "-"
        click.echo(f"{r.name:20} {r.status:8} live={r.live_certificates:<6} last-expiry={last} "
                   f"crl=#{r.crl_number or '-'} crl-age={crl_age} responder-until={responder}")


@issuer_group.command("retire")
@click.option("--name", required=True)
@click.option("--final", is_flag=True, help="Remove from service (refused while live certificates remain).")
@click.option("--force", is_flag=True, help="With --final: remove even with live certificates.")
@click.option("--reason", default=None, help="Why --force was needed (written to the audit trail).")
@pass_ctx
def issuer_retire(ctx: CLIContext, name: str, final: bool, force: bool, reason: str | None) -> None:
    """Retire an issuer, or with --final remove it once its last certificate has expired."""
    status = rotation.retire_issuer(ctx.runtime, ctx.actor, name=name, final=final, force=force, reason=reason)
    click.echo(f"issuer {name} is now {status}")


@issuer_group.command("export-key")
@click.option("--name", required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--new-passphrase-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Passphrase protecting the backup (at least 12 characters).")
@pass_ctx
def issuer_export_key(ctx: CLIContext, name: str, out: Path, new_passphrase_file: Path) -> None:
    """Write an encrypted backup of the issuer's key file under a new passphrase."""
    backup = rotation.export_issuer_key(ctx.runtime, ctx.actor, name=name,
                                        new_passphrase=read_passphrase(new_passphrase_file))
    write_new_file(out, backup, mode=0o600)
    click.echo(f"encrypted key backup of {name} written to {out}")


@issuer_group.command("import-key")
@click.option("--name", required=True)
@click.option("--backup", "backup_path", required=True)
@click.option("--backup-passphrase-file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
def issuer_import_key(ctx: CLIContext, name: str, backup_path: str, backup_passphrase_file: Path) -> None:
    """Restore a key backup into ca.key_dir (then `issuer install` brings the issuer back)."""
    rotation.restore_issuer_key(ctx.runtime, ctx.actor, name=name, backup=read_input_file(backup_path),
                                backup_passphrase=read_passphrase(backup_passphrase_file))
    click.echo(f"key of issuer {name} restored into {ctx.settings.ca.key_dir}")


@issuer_group.command("publish-cross")
@click.option("--name", required=True, help="File name in the repository: /pki/cross/<name>.crt")
@click.option("--cert", "cert_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
def issuer_publish_cross(ctx: CLIContext, name: str, cert_path: Path) -> None:
    """Serve a root-rollover cross-certificate from the repository."""
    url = publish_cross_certificate(ctx.runtime, ctx.actor, name=name, certificate=load_certificate_file(cert_path))
    click.echo(f"cross-certificate published at {url}")


COMMANDS: list[click.Command] = []
