"""`pkictl root ...`: offline root ceremonies. They read only --root-dir and the files named."""

from __future__ import annotations

import json
from pathlib import Path

import click
from cryptography.hazmat.primitives.serialization import Encoding

from ca import root as root_ca
from ca.clock import SystemClock
from ca.errors import ConflictError
from ca.keys.filekey import read_passphrase, write_new_file
from ca.x509.names import parse_dn
from ca.x509.pem import pem_encode
from cli.context import CLIContext, pass_ctx, read_input_file

_root_dir = click.option("--root-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                         help="The offline root directory (default: setting root.dir, ./root-ca).")
_passphrase = click.option("--passphrase-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
                           help="File holding the root key passphrase (at least 12 characters).")


def _dir(ctx: CLIContext, root_dir: Path | None) -> Path:
    return root_dir if root_dir is not None else ctx.settings.root.dir


@click.group("root")
def root_group() -> None:
    """Offline root CA ceremonies: the root key never touches the online service."""


@root_group.command("init")
@_root_dir
@click.option("--subject", required=True, help='Root subject, e.g. "CN=Grid Root CA,O=Grid Operator,C=FR".')
@click.option("--key-type", default="ec-p384", show_default=True,
              type=click.Choice(["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]))
@click.option("--validity-years", default=20, show_default=True, type=int)
@click.option("--base-url", default=None, help="Public repository base URL (default: repository.base_url).")
@_passphrase
@pass_ctx
def root_init(ctx: CLIContext, root_dir: Path | None, subject: str, key_type: str, validity_years: int,
              base_url: str | None, passphrase_file: Path) -> None:
    """Create the root key (encrypted) and its self-signed certificate."""
    directory = _dir(ctx, root_dir)
    cert = root_ca.init_root(
        directory, subject=parse_dn(subject), key_type=key_type, validity_years=validity_years,
        passphrase=read_passphrase(passphrase_file), base_url=base_url or ctx.settings.repository.base_url,
        now=SystemClock().now(),
    )
    click.echo(f"root CA created in {directory}: {cert.subject.rfc4514_string()} (until {cert.not_valid_after_utc})")


@root_group.command("sign-issuer")
@_root_dir
@click.option("--csr", "csr_path", required=True, help="The issuer's CSR (PEM or DER), from `pkictl issuer create`.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the issuer certificate (PEM); never overwritten.")
@_passphrase
@click.option("--validity-years", default=8, show_default=True, type=int)
@pass_ctx
def root_sign_issuer(ctx: CLIContext, root_dir: Path | None, csr_path: str, out: Path, passphrase_file: Path,
                     validity_years: int) -> None:
    """Sign an issuing CA certificate (pathLen 0, never beyond the root's validity)."""
    if out.exists():
        raise ConflictError(f"refusing to overwrite existing file {out}")
    cert = root_ca.sign_issuer(_dir(ctx, root_dir), csr_data=read_input_file(csr_path),
                               passphrase=read_passphrase(passphrase_file), validity_years=validity_years,
                               now=SystemClock().now())
    write_new_file(out, cert.public_bytes(Encoding.PEM))
    click.echo(f"issuer certificate written to {out}: {cert.subject.rfc4514_string()}")


@root_group.command("crl")
@_root_dir
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the root CRL; never overwritten.")
@_passphrase
@click.option("--validity-days", default=365, show_default=True, type=int)
@click.option("--format", "fmt", default="der", show_default=True, type=click.Choice(["der", "pem"]))
@pass_ctx
def root_crl(ctx: CLIContext, root_dir: Path | None, out: Path, passphrase_file: Path, validity_days: int,
             fmt: str) -> None:
    """Issue the root's CRL (at most 12 months), for publication at /pki/root.crl."""
    if out.exists():
        raise ConflictError(f"refusing to overwrite existing file {out}")
    crl = root_ca.make_root_crl(_dir(ctx, root_dir), passphrase=read_passphrase(passphrase_file),
                                now=SystemClock().now(), validity_days=validity_days)
    if fmt == "pem":
        crl = pem_encode(crl, "X509 CRL")
    write_new_file(out, crl)
    click.echo(f"root CRL written to {out}")


@root_group.command("show")
@_root_dir
@pass_ctx
def root_show(ctx: CLIContext, root_dir: Path | None) -> None:
    """Show the root certificate and what it has signed."""
    click.echo(json.dumps(root_ca.describe_root(_dir(ctx, root_dir)), indent=2))


COMMANDS = [root_group]
