"""TLS material of the front office (issue 5): its server certificate and the client CA bundle.

The server certificate (profile `tls-server`) is issued by the active issuer through the ordinary issuance
path (DESIGN §4) the first time the front office starts without one, and again when it comes within
`RENEW_BEFORE` of its end; its key is kept encrypted (PKCS#8, own passphrase file, 0600). The chain file
holds the leaf then the issuer certificate, so clients that only know the root can build the path
(RFC 8446 §4.4.2: the sender's certificate first, then the one certifying it).
The client CA bundle comes from the ledger: the active and retired issuers are the trust anchors of the
TLS layer, so a retired issuer's certificates keep working until they expire and a removed one's stop.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import SYSTEM, Actor
from ca.errors import BadRequestError
from ca.files import write_atomically
from ca.issuance import issue_certificate
from ca.keys.filekey import generate_private_key
from ca.ledger import gate_store
from ca.runtime import Runtime
from ca.secrets import read_passphrase
from ca.vocabulary import IssuerStatus

RENEW_BEFORE = timedelta(days=30)
SERVER_KEY_TYPE = "ec-p256"


@dataclass(frozen=True)
class ServerTLS:
    chain_file: Path
    key_file: Path
    key_passphrase: bytes
    client_ca_file: Path
    issued_serial: str | None  # set when a server certificate was issued by this call


def key_passphrase(path: Path) -> bytes:
    """The server key's passphrase; a random one is created (0600) on first start."""
    if not path.exists():
        write_atomically(path, secrets.token_urlsafe(32).encode(), 0o600)
    return read_passphrase(path)


def client_ca_bundle(runtime: Runtime, *, with_root: bool) -> bytes:
    """PEM of the active and retired issuers (and their roots when `with_root`, for nginx)."""
    with runtime.sessionmaker() as session:
        records = [r for r in gate_store.list_gate_issuers(session)
                   if r.status in (IssuerStatus.ACTIVE, IssuerStatus.RETIRED)]
    ders: list[bytes] = [r.certificate_der for r in records]
    if with_root:
        ders += [r.root_der for r in records if r.root_der not in ders]
    seen: list[bytes] = []
    for der in ders:
        if der not in seen:
            seen.append(der)
    return b"".join(x509.load_der_x509_certificate(d).public_bytes(Encoding.PEM) for d in seen)


def write_client_ca_bundle(runtime: Runtime, *, with_root: bool) -> bool:
    """Write the bundle file when it changed; True when it did."""
    bundle = client_ca_bundle(runtime, with_root=with_root)
    if not bundle:
        raise BadRequestError("no issuer is installed: the front office has no client CA to trust")
    path = runtime.settings.frontoffice.client_ca_file
    if path.exists() and path.read_bytes() == bundle:
        return False
    write_atomically(path, bundle, 0o644)
    return True


def _needs_new_certificate(runtime: Runtime, chain_file: Path, key_file: Path) -> bool:
    if not chain_file.exists() or not key_file.exists():
        return True
    try:
        leaf = x509.load_pem_x509_certificate(chain_file.read_bytes())
    except ValueError:
        raise BadRequestError(f"{chain_file} is not a PEM certificate chain") from None
    return leaf.not_valid_after_utc - runtime.clock.now() < RENEW_BEFORE


def prepare_server_tls(runtime: Runtime, actor: Actor = SYSTEM, *, with_root: bool = False) -> ServerTLS:
    """Make sure the server certificate, its key and the client CA bundle are in place."""
    settings = runtime.settings.frontoffice
    passphrase = key_passphrase(settings.server_key_passphrase_file)
    issued = None
    if _needs_new_certificate(runtime, settings.server_cert_file, settings.server_key_file):
        issued = _issue_server_certificate(runtime, actor, passphrase)
    write_client_ca_bundle(runtime, with_root=with_root)
    return ServerTLS(chain_file=settings.server_cert_file, key_file=settings.server_key_file,
                     key_passphrase=passphrase, client_ca_file=settings.client_ca_file, issued_serial=issued)


def _issue_server_certificate(runtime: Runtime, actor: Actor, passphrase: bytes) -> str:
    settings = runtime.settings.frontoffice
    names = settings.server_name_list
    if not names:
        raise BadRequestError("frontoffice.server_names is empty: name the host the front office answers as")
    key = generate_private_key(SERVER_KEY_TYPE)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, names[0])]))
           .sign(key, hashes.SHA256()))
    issued = issue_certificate(runtime, actor, csr_data=csr.public_bytes(Encoding.PEM), user_email=None,
                               profile_name="tls-server", dns_names=tuple(names))
    key_pem = key.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(passphrase))
    chain = issued.certificate.public_bytes(Encoding.PEM) + issued.chain[0].public_bytes(Encoding.PEM)
    # Key first: a chain file never points at a key that is not there yet.
    write_atomically(settings.server_key_file, key_pem, 0o600)
    write_atomically(settings.server_cert_file, chain, 0o644)
    return issued.serial
