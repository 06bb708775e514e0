"""The ACME server's own HTTPS certificate (RFC 8555 §6.1: ACME runs over HTTPS), issued by our active
issuer through the ordinary pipeline at start when missing or near its end, like the front office's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import SYSTEM
from ca.errors import BadRequestError
from ca.files import write_atomically
from ca.issuance import issue_certificate
from ca.keys.filekey import generate_private_key
from ca.runtime import Runtime
from enrollment.access.tls import RENEW_BEFORE, SERVER_KEY_TYPE, key_passphrase


@dataclass(frozen=True)
class AcmeTLS:
    chain_file: Path
    key_file: Path
    key_passphrase: bytes
    issued_serial: str | None


def _needs_new_certificate(runtime: Runtime, chain_file: Path, key_file: Path) -> bool:
    if not chain_file.exists() or not key_file.exists():
        return True
    try:
        leaf = x509.load_pem_x509_certificate(chain_file.read_bytes())
    except ValueError:
        raise BadRequestError(f"{chain_file} is not a PEM certificate chain") from None
    return leaf.not_valid_after_utc - runtime.clock.now() < RENEW_BEFORE


def prepare_acme_tls(runtime: Runtime) -> AcmeTLS:
    settings = runtime.settings.acme
    passphrase = key_passphrase(settings.server_key_passphrase_file)
    issued = None
    if _needs_new_certificate(runtime, settings.server_cert_file, settings.server_key_file):
        names = settings.server_name_list
        if not names:
            raise BadRequestError("acme.server_names is empty: name the host the ACME server answers as")
        key = generate_private_key(SERVER_KEY_TYPE)
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, names[0])]))
               .sign(key, hashes.SHA256()))
        certificate = issue_certificate(runtime, SYSTEM, csr_data=csr.public_bytes(Encoding.PEM), user_email=None,
                                        profile_name="tls-server", dns_names=names)
        key_pem = key.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.BestAvailableEncryption(passphrase))
        write_atomically(settings.server_key_file, key_pem, 0o600)
        write_atomically(settings.server_cert_file, certificate.certificate.public_bytes(Encoding.PEM)
                         + certificate.chain[0].public_bytes(Encoding.PEM), 0o644)
        issued = certificate.serial
    return AcmeTLS(settings.server_cert_file, settings.server_key_file, passphrase, issued)
