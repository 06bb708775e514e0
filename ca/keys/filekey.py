"""CA keys as encrypted PKCS#8 files: created 0600, never written in clear (brief: issuing key encrypted at rest)."""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ca.errors import BadRequestError, NotAuthorizedError, NotFoundError
from ca.files import write_new_file
from ca.secrets import check_passphrase
from ca.x509.signer import KEY_TYPES, ca_private_key, hash_for


def generate_private_key(key_type: str) -> CertificateIssuerPrivateKeyTypes:
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type in ("rsa-2048", "rsa-3072", "rsa-4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    raise BadRequestError(f"unknown key type {key_type!r}; choose one of {', '.join(KEY_TYPES)}")


def key_type_of(key: CertificateIssuerPrivateKeyTypes | CertificateIssuerPublicKeyTypes) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        name = {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(key.curve.name)
    elif isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        name = f"rsa-{key.key_size}"
    else:
        name = None
    if name not in KEY_TYPES:
        raise BadRequestError("unsupported CA key type: use one of " + ", ".join(KEY_TYPES))
    return name


def save_private_key(path: Path, key: CertificateIssuerPrivateKeyTypes, passphrase: bytes) -> None:
    check_passphrase(passphrase)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    write_new_file(path, pem, mode=0o600)


def load_private_key(path: Path, passphrase: bytes) -> CertificateIssuerPrivateKeyTypes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"key file not found: {path}") from None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise NotAuthorizedError(f"cannot decrypt key {path}: wrong passphrase or damaged file") from None
    try:
        checked = ca_private_key(key)
    except TypeError:
        raise BadRequestError(f"{path} holds a key of an unsupported type") from None
    key_type_of(checked)
    return checked


class FileSigner:
    """A Signer over a decrypted in-memory key loaded from an encrypted PKCS#8 file."""

    def __init__(self, key: CertificateIssuerPrivateKeyTypes) -> None:
        self._key = key
        self._key_type = key_type_of(key)
        self._hash = hash_for(self._key_type)

    @classmethod
    def from_file(cls, path: Path, passphrase: bytes) -> FileSigner:
        return cls(load_private_key(path, passphrase))

    @property
    def key_type(self) -> str:
        return self._key_type

    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(self._hash))
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), self._hash)
        raise TypeError("unsupported key")

    def sign_digest(self, digest: bytes) -> bytes:
        """The signature `sign` would make over data whose `hash_for(key_type)` digest is `digest`: lets a CRL
        of a million entries be hashed as it streams instead of joined first (ca.x509.crl)."""
        prehashed = Prehashed(self._hash)
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(digest, ec.ECDSA(prehashed))
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(digest, padding.PKCS1v15(), prehashed)
        raise TypeError("unsupported key")


__all__ = ["FileSigner", "generate_private_key", "key_type_of", "hashes"]
