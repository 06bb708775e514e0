"""`pkictl root ...`: offline root ceremonies. They read only --root-dir and the files named, and every
command that changes something appends to the root directory's hash-chained transcript."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives.serialization import Encoding

from ca import root as root_ca
from ca.ceremony import load_ceremony, run_ceremony
from ca.clock import SystemClock
from ca.errors import BadRequestError, ConflictError
from ca.files import write_new_file
from ca.issuer import load_certificate_file
from ca.secrets import DEFAULT_PKCS11_MODULE, read_passphrase, read_pin
from ca.transcript import append_entry, verify_transcript
from ca.x509.names import parse_dn
from ca.x509.pem import pem_encode
from cli.context import CLIContext, pass_ctx, read_input_file

_KEY_TYPES = click.Choice(["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"])
_root_dir = click.option("--root-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                         help="The offline root directory (default: setting root.dir, ./root-ca).")


def _secret_options(command: click.Command) -> click.Command:
    for option in reversed([
        click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="File holding the root key passphrase (at least 12 characters)."),
        click.option("--pin-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="File holding the PIN of the PKCS#11 token that holds the root key."),
        click.option("--pkcs11-module", default=DEFAULT_PKCS11_MODULE, show_default=True, help="PKCS#11 library."),
    ]):
        command = option(command)
    return command


def _secret(passphrase_file: Path | None, pin_file: Path | None, module: str) -> root_ca.RootSecret:
    if passphrase_file is None and pin_file is None:
        raise BadRequestError("give --passphrase-file (key file) or --pin-file (PKCS#11 token)")
    return root_ca.RootSecret(
        passphrase=read_passphrase(passphrase_file) if passphrase_file else None,
        pin=read_pin(pin_file) if pin_file else None, module=module,
    )


def _dir(ctx: CLIContext, root_dir: Path | None) -> Path:
    return root_dir if root_dir is not None else ctx.settings.root.dir


@click.group("root")
@click.option("--operator", default=None, help="Name of the person running the ceremony (for the transcript).")
@click.pass_context
def root_group(ctx: click.Context, operator: str | None) -> None:
    """Offline root CA ceremonies: the root key never touches the online service."""
    ctx.meta["pki_operator"] = operator or getpass.getuser()


def _operator(ctx: click.Context) -> str:
    return str(ctx.meta.get("pki_operator") or getpass.getuser())


def _log(ctx: click.Context, directory: Path, command: str, *, der: bytes | None = None,
         inputs: dict[str, Path] | None = None, outputs: dict[str, Path] | None = None,
         details: dict[str, Any] | None = None) -> None:
    append_entry(directory, at=SystemClock().now(), operator=_operator(ctx), command=command, signed=der,
                 inputs=inputs, outputs=outputs, details=details)


def _refuse_existing(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            raise ConflictError(f"refusing to overwrite existing file {path}")


@root_group.command("init")
@_root_dir
@click.option("--subject", required=True, help='Root subject, e.g. "CN=Grid Root CA,O=Grid Operator,C=FR".')
@click.option("--key-type", default="ec-p384", show_default=True, type=_KEY_TYPES)
@click.option("--validity-years", default=20, show_default=True, type=int)
@click.option("--base-url", default=None, help="Public repository base URL (default: repository.base_url).")
@click.option("--key-uri", default=None, help="Generate the key on a PKCS#11 token: pkcs11:token=...;object=...")
@_secret_options
@pass_ctx
@click.pass_context
def root_init(click_ctx: click.Context, ctx: CLIContext, root_dir: Path | None, subject: str, key_type: str,
              validity_years: int, base_url: str | None, key_uri: str | None, passphrase_file: Path | None,
              pin_file: Path | None, pkcs11_module: str) -> None:
    """Create the root key (encrypted file, or on a token) and its self-signed certificate."""
    directory = _dir(ctx, root_dir)
    cert = root_ca.init_root(
        directory, subject=parse_dn(subject), key_type=key_type, validity_years=validity_years,
        passphrase=_secret(passphrase_file, pin_file, pkcs11_module),
        base_url=base_url or ctx.settings.repository.base_url, now=SystemClock().now(), key_uri=key_uri,
    )
    _log(click_ctx, directory, "root init", outputs={"root.crt": directory / "root.crt"},
         der=cert.public_bytes(Encoding.DER), details={"subject": subject, "key_type": key_type,
                                                       "key": key_uri or "file"})
    click.echo(f"root CA created in {directory}: {cert.subject.rfc4514_string()} (until {cert.not_valid_after_utc})")


@root_group.command("sign-issuer")
@_root_dir
@click.option("--csr", "csr_path", required=True, help="The issuer's CSR (PEM or DER), from `pkictl issuer create`.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the issuer certificate (PEM); never overwritten.")
@_secret_options
@click.option("--validity-years", default=8, show_default=True, type=int)
@pass_ctx
@click.pass_context
def root_sign_issuer(click_ctx: click.Context, ctx: CLIContext, root_dir: Path | None, csr_path: str, out: Path,
                     passphrase_file: Path | None, pin_file: Path | None, pkcs11_module: str,
                     validity_years: int) -> None:
    """Sign an issuing CA certificate (pathLen 0, never beyond the root's validity)."""
    _refuse_existing(out)
    directory = _dir(ctx, root_dir)
    cert = root_ca.sign_issuer(directory, csr_data=read_input_file(csr_path),
                               passphrase=_secret(passphrase_file, pin_file, pkcs11_module),
                               validity_years=validity_years, now=SystemClock().now())
    write_new_file(out, cert.public_bytes(Encoding.PEM))
    _log(click_ctx, directory, "root sign-issuer", inputs={"csr": Path(csr_path)}, outputs={"certificate": out},
         der=cert.public_bytes(Encoding.DER), details={"subject": cert.subject.rfc4514_string()})
    click.echo(f"issuer certificate written to {out}: {cert.subject.rfc4514_string()}")


@root_group.command("crl")
@_root_dir
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the root CRL; never overwritten.")
@_secret_options
@click.option("--validity-days", default=365, show_default=True, type=int)
@click.option("--format", "fmt", default="der", show_default=True, type=click.Choice(["der", "pem"]))
@pass_ctx
@click.pass_context
def root_crl(click_ctx: click.Context, ctx: CLIContext, root_dir: Path | None, out: Path,
             passphrase_file: Path | None, pin_file: Path | None, pkcs11_module: str, validity_days: int,
             fmt: str) -> None:
    """Issue the root's CRL (at most 12 months), for publication at /pki/root.crl."""
    _refuse_existing(out)
    directory = _dir(ctx, root_dir)
    crl = root_ca.make_root_crl(directory, passphrase=_secret(passphrase_file, pin_file, pkcs11_module),
                                now=SystemClock().now(), validity_days=validity_days)
    write_new_file(out, pem_encode(crl, "X509 CRL") if fmt == "pem" else crl)
    _log(click_ctx, directory, "root crl", outputs={"crl": out}, der=crl)
    click.echo(f"root CRL written to {out}")


@root_group.command("cross-sign")
@_root_dir
@click.option("--cert", "cert_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The other root's self-signed certificate.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@_secret_options
@click.option("--validity-years", default=10, show_default=True, type=int)
@pass_ctx
@click.pass_context
def root_cross_sign(click_ctx: click.Context, ctx: CLIContext, root_dir: Path | None, cert_path: Path, out: Path,
                    passphrase_file: Path | None, pin_file: Path | None, pkcs11_module: str,
                    validity_years: int) -> None:
    """Certify another root's key with this root (root rollover: run it in both directions)."""
    _refuse_existing(out)
    directory = _dir(ctx, root_dir)
    cert = root_ca.cross_sign(directory, subject_cert=load_certificate_file(cert_path),
                              passphrase=_secret(passphrase_file, pin_file, pkcs11_module),
                              validity_years=validity_years, now=SystemClock().now())
    write_new_file(out, cert.public_bytes(Encoding.PEM))
    _log(click_ctx, directory, "root cross-sign", inputs={"other-root": cert_path}, outputs={"certificate": out},
         der=cert.public_bytes(Encoding.DER), details={"subject": cert.subject.rfc4514_string()})
    click.echo(f"cross-certificate written to {out}: {cert.subject.rfc4514_string()} "
               f"certified by {cert.issuer.rfc4514_string()}")


@root_group.command("show")
@_root_dir
@pass_ctx
def root_show(ctx: CLIContext, root_dir: Path | None) -> None:
    """Show the root certificate and what it has signed."""
    click.echo(json.dumps(root_ca.describe_root(_dir(ctx, root_dir)), indent=2))


@root_group.command("verify-transcript")
@_root_dir
@pass_ctx
def root_verify_transcript(ctx: CLIContext, root_dir: Path | None) -> None:
    """Check the ceremony transcript's hash chain; name every line that was edited, moved or removed."""
    count, problems = verify_transcript(_dir(ctx, root_dir))
    if problems:
        for problem in problems:
            click.echo(f"error: {problem.problem}", err=True)
        raise SystemExit(1)
    click.echo(f"transcript intact: {count} entries")


@root_group.command("ceremony")
@click.argument("ceremony_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.pass_context
def root_ceremony(click_ctx: click.Context, ceremony_file: Path) -> None:
    """Run a ceremony described in a TOML file: generate the root, sign issuers, make the root CRL.

    Every output is checked before anything starts: nothing is ever overwritten.
    """
    plan = load_ceremony(ceremony_file)
    for line in run_ceremony(plan, operator=_operator(click_ctx), now=SystemClock().now()):
        click.echo(line)


COMMANDS = [root_group]
