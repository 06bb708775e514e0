"""PKCS#12 (RFC 7292) files for server-side key generation: key + certificate + chain, one password.

Two encryptions, because `cryptography`'s best available one (PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC,
HMAC-SHA256 MAC) does not import into macOS Keychain nor Windows before Server 2019 (pyca/cryptography
#7293; xca #474, #559; easy-rsa #957):
- `modern`: PBES2/AES-256-CBC with PBKDF2-SHA256, SHA-256 MAC (RFC 8018 §6.2; RFC 9579 recommends it);
- `legacy`: pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 Appendix C) and a SHA-1 MAC, which every
  platform imports. Its strength rests on the password, so the portal asks for a long one either way.
Pure: no I/O, no ledger (DESIGN §2).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12

from ca.errors import BadRequestError
from ca.x509.signer import ca_private_key

ENCRYPTIONS = ("modern", "legacy")
MODERN_KDF_ROUNDS = 600_000  # OWASP 2023 figure for PBKDF2-HMAC-SHA256
LEGACY_KDF_ROUNDS = 2048  # what OpenSSL and Windows write; older importers choke on much higher counts
MAX_FRIENDLY_NAME = 64


def encode_pkcs12(
    key: PrivateKeyTypes,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    *,
    password: bytes,
    encryption: str = "modern",
    friendly_name: str,
) -> bytes:
    """DER of a PFX holding `key`, `certificate` (with `friendly_name`) and the CA `chain`."""
    if encryption not in ENCRYPTIONS:
        raise BadRequestError(f"unknown PKCS#12 encryption {encryption!r}; choose one of {', '.join(ENCRYPTIONS)}")
    if not password:
        raise BadRequestError("a PKCS#12 file needs a password")
    builder = PrivateFormat.PKCS12.encryption_builder()
    if encryption == "modern":
        builder = (builder.kdf_rounds(MODERN_KDF_ROUNDS)
                   .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                   .hmac_hash(hashes.SHA256()))
    else:
        builder = (builder.kdf_rounds(LEGACY_KDF_ROUNDS)
                   .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
                   .hmac_hash(hashes.SHA1()))
    name = " ".join(friendly_name.split())[:MAX_FRIENDLY_NAME].encode("utf-8")
    return pkcs12.serialize_key_and_certificates(
        name or None, ca_private_key(key), certificate, list(chain), builder.build(password))
