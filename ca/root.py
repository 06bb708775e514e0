"""The offline root CA: ceremonies over one root directory, never the ledger or the online settings.

Layout of the root directory:
  root.key.pem   encrypted PKCS#8 (0600)        root.crt     the self-signed certificate (PEM)
  root.toml      base URL fixed at init         index.jsonl  one line per certificate the root signed
  crlnumber      last CRL number issued          root.crl     the last CRL (DER)
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from ca.errors import BadRequestError, ConflictError, NotFoundError
from ca.files import write_new_file
from ca.keys.filekey import FileSigner, generate_private_key, load_private_key, save_private_key
from ca.keys.pkcs11 import PKCS11Signer, generate_token_key, parse_key_uri
from ca.secrets import DEFAULT_PKCS11_MODULE, check_passphrase
from ca.x509.crl import encode_tbs_crl, sign_crl
from ca.x509.csr import parse_and_check_csr
from ca.x509.der import signature_algorithm_der
from ca.x509.reasons import REASON_CODES
from ca.x509.serials import format_serial, random_serial_number
from ca.x509.signer import Signer, ca_public_key
from ca.x509.signing import sign_certificate
from ca.x509.templates import cross_builder, issuer_builder, root_builder, root_urls

MAX_ROOT_YEARS = 25
MAX_ISSUER_YEARS = 8
MAX_ROOT_CRL_DAYS = 365  # BR §4.9.7: a root's CRL is valid at most 12 months


@dataclass(frozen=True)
class RootDir:
    path: Path

    @property
    def key(self) -> Path:
        return self.path / "root.key.pem"

    @property
    def cert(self) -> Path:
        return self.path / "root.crt"

    @property
    def config(self) -> Path:
        return self.path / "root.toml"

    @property
    def index(self) -> Path:
        return self.path / "index.jsonl"

    @property
    def crlnumber(self) -> Path:
        return self.path / "crlnumber"

    @property
    def crl(self) -> Path:
        return self.path / "root.crl"

    def certificate(self) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(self.cert.read_bytes())
        except FileNotFoundError:
            raise NotFoundError(f"no root CA in {self.path}: run `pkictl root init` first") from None

    def base_url(self) -> str:
        with self.config.open("rb") as handle:
            return str(tomllib.load(handle)["base_url"])

    def entries(self) -> list[dict[str, Any]]:
        if not self.index.exists():
            return []
        return [json.loads(line) for line in self.index.read_text().splitlines() if line.strip()]


@dataclass(frozen=True)
class RootSecret:
    """How to unlock the root key: a passphrase for the key file, or a PIN for a PKCS#11 token."""

    passphrase: bytes | None = None
    pin: str | None = None
    module: str = DEFAULT_PKCS11_MODULE


def _secret(passphrase: bytes | RootSecret | None) -> RootSecret:
    return passphrase if isinstance(passphrase, RootSecret) else RootSecret(passphrase=passphrase)


def key_uri_of(root: RootDir) -> str | None:
    with root.config.open("rb") as handle:
        return tomllib.load(handle).get("key_uri")


def _signer(root: RootDir, secret: RootSecret) -> Signer:
    """The root key is a file (encrypted PKCS#8) or lives on a token, as recorded in root.toml at init."""
    uri = key_uri_of(root)
    if uri:
        if not secret.pin:
            raise BadRequestError("this root key is on a PKCS#11 token: give --pin-file")
        return PKCS11Signer(secret.module, parse_key_uri(uri), secret.pin)
    if secret.passphrase is None:
        raise BadRequestError("this root key is a key file: give --passphrase-file")
    return FileSigner(load_private_key(root.key, secret.passphrase))


def _years(now: datetime, years: int) -> datetime:
    return now + timedelta(days=365 * years + years // 4)


def _append_index(root: RootDir, cert: x509.Certificate, now: datetime) -> None:
    line = json.dumps({
        "serial": format_serial(cert.serial_number), "subject": cert.subject.rfc4514_string(),
        "not_before": cert.not_valid_before_utc.isoformat(), "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(), "signed_at": now.isoformat(),
        "revoked_at": None, "reason": None,
    }, sort_keys=True)
    with root.index.open("a") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def init_root(
    root_dir: Path, *, subject: x509.Name, key_type: str, validity_years: int, passphrase: bytes | RootSecret | None,
    base_url: str, now: datetime, key_uri: str | None = None,
) -> x509.Certificate:
    """Key ceremony: a new root key (file, or generated on a token when `key_uri` is given) and its
    self-signed certificate; refuses to touch an existing root."""
    if not 1 <= validity_years <= MAX_ROOT_YEARS:
        raise BadRequestError(f"root validity must be 1 to {MAX_ROOT_YEARS} years")
    secret = _secret(passphrase)
    root = RootDir(root_dir)
    for existing in (root.key, root.cert, root.config):
        if existing.exists():
            raise ConflictError(f"refusing to overwrite existing file {existing}")
    key = None
    if key_uri:
        if not secret.pin:
            raise BadRequestError("a root key on a PKCS#11 token needs --pin-file")
        signer: Signer = generate_token_key(secret.module, parse_key_uri(key_uri), secret.pin, key_type)
    else:
        if secret.passphrase is None:
            raise BadRequestError("a root key file needs --passphrase-file")
        check_passphrase(secret.passphrase)
        key = generate_private_key(key_type)
        signer = FileSigner(key)
    builder = root_builder(subject, signer.public_key(), random_serial_number(), now, _years(now, validity_years))
    cert = sign_certificate(builder, signer)
    root_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(root_dir, 0o700)
    if key is not None and secret.passphrase is not None:
        save_private_key(root.key, key, secret.passphrase)
    config = f'base_url = "{base_url.rstrip("/")}"\n'
    if key_uri:
        config += f'key_uri = "{key_uri}"\n'
    write_new_file(root.config, config.encode())
    write_new_file(root.cert, cert.public_bytes(Encoding.PEM))
    _append_index(root, cert, now)
    return cert


def sign_issuer(
    root_dir: Path, *, csr_data: bytes, passphrase: bytes | RootSecret | None, validity_years: int, now: datetime
) -> x509.Certificate:
    """Sign an issuing CA: pathLen 0, never beyond the root's own notAfter (RFC 5280 §6.1.3)."""
    if not 1 <= validity_years <= MAX_ISSUER_YEARS:
        raise BadRequestError(f"issuer validity must be 1 to {MAX_ISSUER_YEARS} years")
    root = RootDir(root_dir)
    root_cert = root.certificate()
    csr = parse_and_check_csr(csr_data)
    if not any(True for _ in csr.subject) or not csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        raise BadRequestError("the issuer CSR needs a subject with a CN")
    signer = _signer(root, _secret(passphrase))
    not_after = min(_years(now, validity_years), root_cert.not_valid_after_utc)
    crl_url, cert_url = root_urls(root.base_url())
    builder = issuer_builder(csr.subject, ca_public_key(csr.public_key()), root_cert, random_serial_number(), now,
                             not_after, crl_url, cert_url)
    cert = sign_certificate(builder, signer)
    _append_index(root, cert, now)
    return cert


def _next_crl_number(root: RootDir) -> int:
    current = int(root.crlnumber.read_text()) if root.crlnumber.exists() else 0
    return current + 1


def make_root_crl(root_dir: Path, *, passphrase: bytes | RootSecret | None, now: datetime,
                  validity_days: int = MAX_ROOT_CRL_DAYS) -> bytes:
    """The root's CRL (an ARL: it lists revoked CA certificates), numbered from the root dir's counter."""
    if not 1 <= validity_days <= MAX_ROOT_CRL_DAYS:
        raise BadRequestError(f"root CRL validity must be 1 to {MAX_ROOT_CRL_DAYS} days")
    root = RootDir(root_dir)
    root_cert = root.certificate()
    signer = _signer(root, _secret(passphrase))
    ski = root_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    entries = [
        (int(e["serial"], 16), datetime.fromisoformat(e["revoked_at"]), REASON_CODES.get(e["reason"] or ""))
        for e in root.entries() if e.get("revoked_at")
    ]
    number = _next_crl_number(root)
    tbs = encode_tbs_crl(
        issuer_name_der=root_cert.subject.public_bytes(), issuer_key_id=ski,
        signature_algorithm_der=signature_algorithm_der(signer.key_type), this_update=now,
        next_update=now + timedelta(days=validity_days), crl_number=number, entries=entries,
    )
    crl = sign_crl(tbs, signer)
    tmp = root.crlnumber.with_suffix(".tmp")
    tmp.write_text(str(number))
    os.replace(tmp, root.crlnumber)
    tmp_crl = root.crl.with_suffix(".tmp")
    tmp_crl.write_bytes(crl)
    os.replace(tmp_crl, root.crl)
    return crl


def describe_root(root_dir: Path) -> dict[str, Any]:
    root = RootDir(root_dir)
    cert = root.certificate()
    return {
        "subject": cert.subject.rfc4514_string(),
        "serial": format_serial(cert.serial_number),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(),
        "signed": len(root.entries()) - 1,
        "crl_number": int(root.crlnumber.read_text()) if root.crlnumber.exists() else None,
    }


def cross_sign(
    root_dir: Path, *, subject_cert: x509.Certificate, passphrase: bytes | RootSecret | None, validity_years: int,
    now: datetime,
) -> x509.Certificate:
    """A cross-certificate: this root certifies another root's subject and key (root rollover, RFC 4158 §2.3).

    The SKI is copied from the other root, so path builders link the cross-certificate to what that root
    signed; the validity never exceeds either root's.
    """
    if not 1 <= validity_years <= MAX_ROOT_YEARS:
        raise BadRequestError(f"cross-certificate validity must be 1 to {MAX_ROOT_YEARS} years")
    root = RootDir(root_dir)
    root_cert = root.certificate()
    try:
        constraints = subject_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        subject_ski = subject_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        raise BadRequestError("the certificate to cross-sign is not a CA certificate with an SKI") from None
    if not constraints.ca:
        raise BadRequestError("the certificate to cross-sign is not a CA certificate")
    try:
        subject_cert.verify_directly_issued_by(subject_cert)
    except (ValueError, TypeError, InvalidSignature):  # not signed by its own key: not a self-signed root
        raise BadRequestError("only a self-signed root certificate can be cross-signed") from None
    if subject_cert.subject == root_cert.subject:
        raise BadRequestError("a root does not cross-sign itself (the subjects are the same)")
    signer = _signer(root, _secret(passphrase))
    not_after = min(_years(now, validity_years), root_cert.not_valid_after_utc, subject_cert.not_valid_after_utc)
    crl_url, cert_url = root_urls(root.base_url())
    builder = cross_builder(subject_cert.subject, ca_public_key(subject_cert.public_key()), subject_ski,
                            root_cert, random_serial_number(), now, not_after, crl_url, cert_url)
    cert = sign_certificate(builder, signer)
    _append_index(root, cert, now)
    return cert
