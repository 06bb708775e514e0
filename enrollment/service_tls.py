"""A service's own HTTPS certificate and its trust bundle, one rule for every service that serves TLS (the
front office, the ACME server, the OAuth2 mutual-TLS alias).

The server certificate (profile `tls-server`) is issued by the active issuer through the ordinary issuance
path (DESIGN §4) when the service starts without one, and again when it comes within `RENEW_BEFORE` of its
end. Its key is kept encrypted (PKCS#8 under the service's own passphrase file, 0600), and is written before
the chain, so a chain file never points at a key that is not there yet. The chain file holds the leaf then
the issuer certificate, so clients that only know the root can build the path (RFC 8446 §4.4.2: the
sender's certificate first, then the one certifying it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import Actor
from ca.errors import BadRequestError
from ca.files import write_atomically
from ca.issuance import issue_certificate
from ca.keys.filekey import generate_private_key
from ca.runtime import Runtime
from ca.secrets import read_passphrase

RENEW_BEFORE = timedelta(days=30)
SERVER_KEY_TYPE = "ec-p256"


@dataclass(frozen=True)
class ServiceCertificate:
    """Where a service's certificate files are, and what they are named for (`setting` names the
    configuration key of the names, for the error that says what to set)."""

    chain_file: Path
    key_file: Path
    passphrase_file: Path
    names: tuple[str, ...]
    setting: str


def key_passphrase(path: Path) -> bytes:
    """A server key's passphrase; a random one is created (0600) on first start."""
    if not path.exists():
        write_atomically(path, secrets.token_urlsafe(32).encode(), 0o600)
    return read_passphrase(path)


def needs_new_certificate(runtime: Runtime, chain_file: Path, key_file: Path) -> bool:
    """Missing, or within RENEW_BEFORE of its end; a file that is not a PEM chain is a clear error."""
    if not chain_file.exists() or not key_file.exists():
        return True
    try:
        leaf = x509.load_pem_x509_certificate(chain_file.read_bytes())
    except ValueError:
        raise BadRequestError(f"{chain_file} is not a PEM certificate chain") from None
    return leaf.not_valid_after_utc - runtime.clock.now() < RENEW_BEFORE


def ensure_service_certificate(runtime: Runtime, actor: Actor, files: ServiceCertificate
                               ) -> tuple[bytes, str | None]:
    """The key's passphrase, and the serial of the certificate issued by this call (None when the one in
    place is still good)."""
    passphrase = key_passphrase(files.passphrase_file)
    if not needs_new_certificate(runtime, files.chain_file, files.key_file):
        return passphrase, None
    if not files.names:
        raise BadRequestError(f"{files.setting} is empty: name the host the service answers as")
    key = generate_private_key(SERVER_KEY_TYPE)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, files.names[0])]))
           .sign(key, hashes.SHA256()))
    issued = issue_certificate(runtime, actor, csr_data=csr.public_bytes(Encoding.PEM), user_email=None,
                               profile_name="tls-server", dns_names=tuple(files.names))
    key_pem = key.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(passphrase))
    write_atomically(files.key_file, key_pem, 0o600)  # key first: the chain never points at nothing
    write_atomically(files.chain_file, issued.certificate.public_bytes(Encoding.PEM)
                     + issued.chain[0].public_bytes(Encoding.PEM), 0o644)
    return passphrase, issued.serial


def write_bundle_if_changed(path: Path, bundle: bytes, service: str) -> bool:
    """Write a client CA bundle when it changed; True when it did. An empty one is refused: the service
    would trust nobody, and the handshake error would not say why."""
    if not bundle:
        raise BadRequestError(f"no issuer is installed: the {service} has no client CA to trust")
    if path.exists() and path.read_bytes() == bundle:
        return False
    write_atomically(path, bundle, 0o644)
    return True
