"""Test-local helpers for CRL tests: a Signer over a cryptography key and a throwaway root/issuer/leaf PKI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from ca.x509.signer import hash_for


class KeySigner:
    """The Signer protocol (ca.keys.signer) over an in-memory cryptography private key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
        self._key = key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            self._key_type = {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}[key.curve.name]
        else:
            self._key_type = f"rsa-{key.key_size}"

    @property
    def key_type(self) -> str:
        return self._key_type

    def public_key(self) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hash_for(self._key_type)))
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


@dataclass
class CA:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def signer(self) -> KeySigner:
        return KeySigner(self.key)

    @property
    def key_id(self) -> bytes:
        return self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest

    @property
    def name_der(self) -> bytes:
        return self.cert.subject.public_bytes()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Portail PKI tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(common_name: str, key, parent: CA | None = None, *, now: datetime | None = None) -> CA:
    now = now or datetime.now(UTC)
    public = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    issuer_name = parent.cert.subject if parent else _name(common_name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=None if parent is None else 0), critical=True
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
    )
    signing_key = parent.key if parent else key
    if parent:
        parent_ski = parent.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(parent_ski), critical=False
        )
    return CA(key=key, cert=builder.sign(signing_key, hashes.SHA256()))


def make_leaf(issuer: CA, serial_number: int, *, now: datetime | None = None) -> x509.Certificate:
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(f"leaf {serial_number:x}"[:60]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(serial_number)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False
        )
        .sign(issuer.key, hashes.SHA256())
    )


def make_pki() -> tuple[CA, CA]:
    """An EC P-256 root and an EC P-256 issuing CA (with SKI) signed by it."""
    root = make_ca("Test Root", ec.generate_private_key(ec.SECP256R1()))
    issuer = make_ca("Test Issuer", ec.generate_private_key(ec.SECP256R1()), root)
    return root, issuer
