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

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import SYSTEM, Actor
from ca.ledger import gate_store
from ca.runtime import Runtime
from ca.vocabulary import IssuerStatus
from enrollment.service_tls import (  # noqa: F401  (RENEW_BEFORE, SERVER_KEY_TYPE, key_passphrase: re-exported)
    RENEW_BEFORE,
    SERVER_KEY_TYPE,
    ServiceCertificate,
    ensure_service_certificate,
    key_passphrase,
    write_bundle_if_changed,
)


@dataclass(frozen=True)
class ServerTLS:
    chain_file: Path
    key_file: Path
    key_passphrase: bytes
    client_ca_file: Path
    issued_serial: str | None  # set when a server certificate was issued by this call


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
    return write_bundle_if_changed(runtime.settings.frontoffice.client_ca_file,
                                   client_ca_bundle(runtime, with_root=with_root), "front office")


def prepare_server_tls(runtime: Runtime, actor: Actor = SYSTEM, *, with_root: bool = False) -> ServerTLS:
    """Make sure the server certificate, its key and the client CA bundle are in place."""
    settings = runtime.settings.frontoffice
    passphrase, issued = ensure_service_certificate(runtime, actor, ServiceCertificate(
        settings.server_cert_file, settings.server_key_file, settings.server_key_passphrase_file,
        tuple(settings.server_name_list), "frontoffice.server_names"))
    write_client_ca_bundle(runtime, with_root=with_root)
    return ServerTLS(chain_file=settings.server_cert_file, key_file=settings.server_key_file,
                     key_passphrase=passphrase, client_ca_file=settings.client_ca_file, issued_serial=issued)
