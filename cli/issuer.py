"""`pkictl issuer ...`: online issuing CAs (key + CSR, install the signed certificate, list)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ca.errors import ConflictError
from ca.files import write_new_file
from ca.issuer import load_certificate_file
from ca.lifecycle import issuers
from ca.secrets import read_passphrase
from cli.context import CLIContext, pass_ctx


@click.group("issuer")
def issuer_group() -> None:
    """Online issuing CAs: create a key and CSR, install the certificate the root signed, list them."""


@issuer_group.command("create")
@click.option("--name", required=True, help="Short issuer name (letters, digits, '-', '_').")
@click.option("--subject", required=True, help='Issuer subject, e.g. "CN=Portail Issuing CA 1,O=Grid,C=FR".')
@click.option("--out-csr", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Passphrase of the key file (the one named by ca.passphrase_file).")
@click.option("--key-type", default="ec-p256", show_default=True,
              type=click.Choice(["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]))
@click.option("--key-uri", default=None,
              help="Generate the key on a PKCS#11 token instead (PIN from ca.pkcs11_pin_file): "
                   "pkcs11:token=...;object=...")
@pass_ctx
def issuer_create(ctx: CLIContext, name: str, subject: str, out_csr: Path, passphrase_file: Path | None,
                  key_type: str, key_uri: str | None) -> None:
    """Generate the issuer key (encrypted in ca.key_dir, or on a token) and write its CSR for the offline root."""
    if out_csr.exists():
        raise ConflictError(f"refusing to overwrite existing file {out_csr}")
    csr_pem = issuers.create_issuer(ctx.runtime, ctx.actor, name=name, subject=subject, key_type=key_type,
                                    passphrase=read_passphrase(passphrase_file) if passphrase_file else None,
                                    key_uri=key_uri)
    write_new_file(out_csr, csr_pem)
    click.echo(f"issuer key created in {ctx.settings.ca.key_dir}; CSR written to {out_csr}")


@issuer_group.command("install")
@click.option("--name", required=True)
@click.option("--cert", "cert_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--root-cert", "root_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
def issuer_install(ctx: CLIContext, name: str, cert_path: Path, root_path: Path) -> None:
    """Record the signed issuer certificate in the ledger as the active issuer."""
    view = issuers.install_issuer(ctx.runtime, ctx.actor, name=name, certificate=load_certificate_file(cert_path),
                                  root=load_certificate_file(root_path))
    click.echo(f"issuer {view.name} installed and active: {view.subject} (until {view.not_after})")


@issuer_group.command("list")
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json"]))
@pass_ctx
def issuer_list(ctx: CLIContext, fmt: str) -> None:
    """List issuers with their state."""
    views = issuers.list_issuers(ctx.runtime, ctx.actor)
    if fmt == "json":
        click.echo(json.dumps([v.to_dict() for v in views], indent=2))
        return
    for v in views:
        click.echo(f"{v.name:20} {v.status:8} {v.not_after.date()} {v.subject}")


COMMANDS = [issuer_group]
