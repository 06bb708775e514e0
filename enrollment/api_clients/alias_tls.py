"""TLS material of the mutual-TLS alias (RFC 8705 §5, `pkictl serve api-mtls`): its server certificate and
the client CA bundle, made the way the front office makes its own (enrollment.access.tls).

The server certificate (profile `tls-server`, names `oauth.mtls_server_names`) is issued by the active
issuer through the ordinary issuance path (DESIGN §4) when missing or within RENEW_BEFORE of its end; its
key is kept encrypted (PKCS#8 under its own passphrase file, 0600). The client CA bundle holds the active
and retired issuers: the handshake accepts only certificates of ours, and the ledger decides the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ca.actor import SYSTEM, Actor
from ca.runtime import Runtime
from enrollment.access.tls import client_ca_bundle
from enrollment.service_tls import ServiceCertificate, ensure_service_certificate, write_bundle_if_changed


@dataclass(frozen=True)
class AliasTLS:
    chain_file: Path
    key_file: Path
    key_passphrase: bytes
    client_ca_file: Path
    issued_serial: str | None


def prepare_alias_tls(runtime: Runtime, actor: Actor = SYSTEM) -> AliasTLS:
    oauth = runtime.settings.oauth
    passphrase, issued = ensure_service_certificate(runtime, actor, ServiceCertificate(
        oauth.mtls_server_cert_file, oauth.mtls_server_key_file, oauth.mtls_server_key_passphrase_file,
        tuple(oauth.mtls_server_name_list), "oauth.mtls_server_names"))
    write_alias_client_ca(runtime)
    return AliasTLS(chain_file=oauth.mtls_server_cert_file, key_file=oauth.mtls_server_key_file,
                    key_passphrase=passphrase, client_ca_file=oauth.mtls_client_ca_file, issued_serial=issued)


def write_alias_client_ca(runtime: Runtime) -> bool:
    """Write the alias's client CA bundle (the active and retired issuers) when it changed; True when it did.
    The alias builds its TLS context per connection from this file (webapp.oauth.alias_server), so a new
    issuer is accepted at the next handshake."""
    return write_bundle_if_changed(runtime.settings.oauth.mtls_client_ca_file,
                                   client_ca_bundle(runtime, with_root=False), "mTLS alias")
