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

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import SYSTEM, Actor
from ca.errors import BadRequestError
from ca.files import write_atomically
from ca.issuance import issue_certificate
from ca.keys.filekey import generate_private_key
from ca.runtime import Runtime
from enrollment.access.tls import RENEW_BEFORE, SERVER_KEY_TYPE, client_ca_bundle, key_passphrase


@dataclass(frozen=True)
class AliasTLS:
    chain_file: Path
    key_file: Path
    key_passphrase: bytes
    client_ca_file: Path
    issued_serial: str | None


def _needs_certificate(runtime: Runtime, chain_file: Path, key_file: Path) -> bool:
    if not chain_file.exists() or not key_file.exists():
        return True
    try:
        leaf = x509.load_pem_x509_certificate(chain_file.read_bytes())
    except ValueError:
        raise BadRequestError(f"{chain_file} is not a PEM certificate chain") from None
    return leaf.not_valid_after_utc - runtime.clock.now() < RENEW_BEFORE


def _issue(runtime: Runtime, actor: Actor, passphrase: bytes) -> str:
    oauth = runtime.settings.oauth
    names = oauth.mtls_server_name_list
    if not names:
        raise BadRequestError("oauth.mtls_server_names is empty: name the host the mTLS alias answers as")
    key = generate_private_key(SERVER_KEY_TYPE)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, names[0])]))
           .sign(key, hashes.SHA256()))
    issued = issue_certificate(runtime, actor, csr_data=csr.public_bytes(Encoding.PEM), user_email=None,
                               profile_name="tls-server", dns_names=tuple(names))
    key_pem = key.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(passphrase))
    write_atomically(oauth.mtls_server_key_file, key_pem, 0o600)  # key first: the chain never points at nothing
    write_atomically(oauth.mtls_server_cert_file,
                     issued.certificate.public_bytes(Encoding.PEM) + issued.chain[0].public_bytes(Encoding.PEM))
    return issued.serial


def prepare_alias_tls(runtime: Runtime, actor: Actor = SYSTEM) -> AliasTLS:
    oauth = runtime.settings.oauth
    passphrase = key_passphrase(oauth.mtls_server_key_passphrase_file)
    issued = None
    if _needs_certificate(runtime, oauth.mtls_server_cert_file, oauth.mtls_server_key_file):
        issued = _issue(runtime, actor, passphrase)
    write_alias_client_ca(runtime)
    return AliasTLS(chain_file=oauth.mtls_server_cert_file, key_file=oauth.mtls_server_key_file,
                    key_passphrase=passphrase, client_ca_file=oauth.mtls_client_ca_file, issued_serial=issued)


def write_alias_client_ca(runtime: Runtime) -> bool:
    """Write the alias's client CA bundle (the active and retired issuers) when it changed; True when it did.
    The alias builds its TLS context per connection from this file (webapp.oauth.alias_server), so a new
    issuer is accepted at the next handshake."""
    path = runtime.settings.oauth.mtls_client_ca_file
    bundle = client_ca_bundle(runtime, with_root=False)
    if not bundle:
        raise BadRequestError("no issuer is installed: the mTLS alias has no client CA to trust")
    if path.exists() and path.read_bytes() == bundle:
        return False
    write_atomically(path, bundle, 0o644)
    return True
