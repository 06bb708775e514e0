"""Pure pieces: password rules and hashing (ASVS 5.0 V6), PKCS#12 encoding (RFC 7292) in both encryptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from ca.errors import BadRequestError
from ca.x509.pkcs12 import encode_pkcs12
from enrollment.accounts.passwords import check_password_rules, hash_password, needs_rehash, verify_password


@pytest.mark.parametrize("password", ["short", "", "password123", "Azertyuiop!", "motdepasse2024", "aaaaaaaaaaaa",
                                      "abababababab", "x" * 129])
def test_refused_passwords(password):
    with pytest.raises(BadRequestError):
        check_password_rules(password)


@pytest.mark.parametrize("password", ["eight ch", "correct horse battery staple", "ünïcödé pässwörd",
                                      ("a quiet river " * 10)[:128]])
def test_accepted_passwords(password):
    assert check_password_rules(password)


def test_password_must_not_be_the_email():
    with pytest.raises(BadRequestError, match="e-mail"):
        check_password_rules("carol.petit1", email="carol.petit@example.com")


def test_hash_is_argon2id_and_verifies_normalized_input():
    stored = hash_password("Ｃｏｒｒｅｃｔ horse")  # full-width letters: NFKC makes them ASCII
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(stored, "Correct horse")
    assert not verify_password(stored, "correct horse")
    assert not verify_password(None, "anything at all")
    assert not verify_password("not a hash", "anything at all")
    assert not needs_rehash(stored)
    assert needs_rehash("$argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")


def _certificate():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Holder")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return key, cert


def _algorithms(der: bytes) -> tuple[str, str]:
    """(the MAC digest, the certificate bag's encryption) as written in the PFX."""
    pfx = asn1_pkcs12.Pfx.load(der)
    mac = pfx["mac_data"]["mac"]["digest_algorithm"]["algorithm"].native
    encrypted = [c for c in pfx.authenticated_safe if c["content_type"].native == "encrypted_data"][0]
    algorithm = encrypted["content"]["encrypted_content_info"]["content_encryption_algorithm"]
    return mac, algorithm["algorithm"].native


@pytest.mark.parametrize("encryption,mac,cipher", [("modern", "sha256", "pbes2"),
                                                   ("legacy", "sha1", "pkcs12_sha1_tripledes_3key")])
def test_pkcs12_encryptions(encryption, mac, cipher):
    key, cert = _certificate()
    der = encode_pkcs12(key, cert, [cert], password=b"file password", encryption=encryption,
                        friendly_name="  Carol   Petit (Demo) ")
    loaded = pkcs12.load_pkcs12(der, b"file password")
    assert loaded.cert.certificate == cert and loaded.cert.friendly_name == b"Carol Petit (Demo)"
    assert loaded.key.private_numbers() == key.private_numbers()
    assert _algorithms(der) == (mac, cipher)


def test_pkcs12_refusals():
    key, cert = _certificate()
    with pytest.raises(BadRequestError):
        encode_pkcs12(key, cert, [], password=b"", friendly_name="x")
    with pytest.raises(BadRequestError):
        encode_pkcs12(key, cert, [], password=b"pw", encryption="rc2", friendly_name="x")
