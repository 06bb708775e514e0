"""CSR loading and checks, and public key quality (ca.x509.csr, ca.x509.keycheck)."""

from __future__ import annotations

import hashlib
import math
import re
import secrets

import pytest
from asn1crypto import csr as asn1_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from ca.errors import BadCSRError
from ca.x509.csr import MAX_CSR_BYTES, check_csr, load_csr, parse_and_check_csr
from ca.x509.keycheck import (
    check_public_key,
    has_roca_fingerprint,
    is_fermat_factorable,
    is_valid_ec_point,
    spki_sha256,
)
from tests.vectors.bad_csrs import (
    build_bad_csrs,
    csr_for,
    good_csr,
    next_prime,
    random_prime,
    roca_key,
    roca_prime,
    rsa_key_from_primes,
)

EXPECTED_MESSAGES = {
    "bad-signature": r"^CSR signature does not verify: no proof of possession",
    "rsa-1024": r"^RSA key of 1024 bits is not accepted; use 2048, 3072 or 4096 bits$",
    "rsa-e3": r"^RSA public exponent 3 is not accepted; it must be 65537$",
    "rsa-fermat": r"^RSA key is weak: its primes are too close \(Fermat factorization\)",
    "p192": r"^elliptic curve P-192 \(secp192r1\) is not accepted; use P-256 or P-384$",
    "secp256k1": r"^elliptic curve secp256k1 is not accepted; use P-256 or P-384$",
    "garbage": r"^data is not a certificate signing request \(neither PEM nor DER\)$",
    "empty": r"^CSR is empty$",
    "huge": r"^CSR is 1048576 bytes, larger than the 64 KiB limit$",
}


@pytest.fixture(scope="module")
def bad_csrs() -> dict[str, bytes]:
    return build_bad_csrs()


@pytest.fixture(scope="module")
def p256_pem() -> bytes:
    return good_csr("ec-p256")[1]


def _rsa_public(n: int, e: int = 65537) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(e, n).public_key()


# --- the golden bad CSRs -----------------------------------------------------------------------------


def test_vectors_cover_every_expected_defect(bad_csrs: dict[str, bytes]) -> None:
    assert set(bad_csrs) == set(EXPECTED_MESSAGES)


@pytest.mark.parametrize("name", sorted(EXPECTED_MESSAGES))
def test_each_bad_csr_is_refused_with_its_own_message(bad_csrs: dict[str, bytes], name: str) -> None:
    with pytest.raises(BadCSRError, match=EXPECTED_MESSAGES[name]) as caught:
        parse_and_check_csr(bad_csrs[name])
    assert "\n" not in str(caught.value)


def test_bad_csr_messages_are_distinct(bad_csrs: dict[str, bytes]) -> None:
    messages = set()
    for data in bad_csrs.values():
        with pytest.raises(BadCSRError) as caught:
            parse_and_check_csr(data)
        messages.add(str(caught.value))
    assert len(messages) == len(bad_csrs)


@pytest.mark.parametrize("name", ["rsa-1024", "rsa-e3", "rsa-fermat", "p192", "secp256k1"])
def test_key_vectors_are_real_correctly_signed_csrs(bad_csrs: dict[str, bytes], name: str) -> None:
    """Their only defect is the key: the parser accepts them and the self-signature verifies."""
    assert load_csr(bad_csrs[name]).is_signature_valid


def test_bad_signature_vector_still_parses(bad_csrs: dict[str, bytes]) -> None:
    csr = load_csr(bad_csrs["bad-signature"])
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
    assert not csr.is_signature_valid


def test_huge_vector_is_refused_only_for_its_size(bad_csrs: dict[str, bytes]) -> None:
    assert len(bad_csrs["huge"]) == 1024 * 1024
    parse_and_check_csr(bad_csrs["huge"].rstrip(b"\n") + b"\n")


# --- good CSRs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-2048"])
def test_good_csrs_pass_as_pem_and_der(key_type: str) -> None:
    key, pem = good_csr(key_type)
    der = load_csr(pem).public_bytes(serialization.Encoding.DER)
    for data in (pem, der):
        csr = parse_and_check_csr(data)
        assert csr.public_key() == key.public_key()


def test_rsa_3072_is_accepted() -> None:
    parse_and_check_csr(csr_for(rsa.generate_private_key(65537, 3072), "der"))


def test_requested_extensions_are_not_refused() -> None:
    """The CA ignores them (subject and extensions come from the profile), so they must not fail a CSR."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wants to be a CA")]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.example.com")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    parse_and_check_csr(csr.public_bytes(serialization.Encoding.PEM))


def test_legacy_new_certificate_request_label_is_accepted(p256_pem: bytes) -> None:
    parse_and_check_csr(p256_pem.replace(b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"))


def test_size_limit_boundary(p256_pem: bytes) -> None:
    padded = p256_pem + b"\n" * (MAX_CSR_BYTES - len(p256_pem))
    assert len(padded) == MAX_CSR_BYTES
    parse_and_check_csr(padded)
    with pytest.raises(BadCSRError, match="larger than the 64 KiB limit"):
        load_csr(padded + b"\n")


# --- format refusals ---------------------------------------------------------------------------------


def _self_signed_certificate() -> x509.Certificate:
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not a csr")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_pem_certificate_is_refused_by_its_label() -> None:
    pem = _self_signed_certificate().public_bytes(serialization.Encoding.PEM)
    with pytest.raises(BadCSRError, match=r"^PEM block is 'CERTIFICATE', expected 'CERTIFICATE REQUEST'$"):
        load_csr(pem)


def test_der_certificate_is_recognized() -> None:
    der = _self_signed_certificate().public_bytes(serialization.Encoding.DER)
    with pytest.raises(BadCSRError, match=r"^this is a certificate, not a certificate signing request$"):
        load_csr(der)


def test_damaged_pem_body_is_refused(p256_pem: bytes) -> None:
    lines = p256_pem.splitlines()
    damaged = b"\n".join([lines[0], b"AAAA" + lines[1][4:], *lines[2:]])
    with pytest.raises(BadCSRError, match=r"^PEM 'CERTIFICATE REQUEST' block is damaged"):
        load_csr(damaged)


def test_der_with_trailing_bytes_is_refused(p256_pem: bytes) -> None:
    der = load_csr(p256_pem).public_bytes(serialization.Encoding.DER)
    with pytest.raises(BadCSRError, match="neither PEM nor DER"):
        load_csr(der + b"\x00")


def test_whitespace_only_is_empty() -> None:
    with pytest.raises(BadCSRError, match=r"^CSR is empty$"):
        load_csr(b" \r\n\t")


def test_text_instead_of_bytes_is_a_programming_error(p256_pem: bytes) -> None:
    with pytest.raises(TypeError):
        load_csr(p256_pem.decode())  # type: ignore[arg-type]


def test_off_curve_public_key_is_refused(p256_pem: bytes) -> None:
    csr = load_csr(p256_pem)
    point = csr.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[der.find(point) + 64] ^= 0x01  # last octet of y: the point leaves the curve
    tampered = load_csr(bytes(der))
    with pytest.raises(BadCSRError, match=r"^CSR public key is invalid or of an unsupported type$"):
        check_csr(tampered)


# --- key types and curves ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("private_key", "message"),
    [
        (lambda: ec.generate_private_key(ec.SECP521R1()), r"^elliptic curve P-521 \(secp521r1\) is not"),
        (lambda: ec.generate_private_key(ec.SECP224R1()), r"^elliptic curve P-224 \(secp224r1\) is not"),
        (lambda: ec.generate_private_key(ec.BrainpoolP256R1()), r"^elliptic curve brainpoolP256r1 is not"),
        (ed25519.Ed25519PrivateKey.generate, r"^Ed25519 keys are not accepted; use ECDSA P-256 or P-384"),
        (ed448.Ed448PrivateKey.generate, r"^Ed448 keys are not accepted"),
        (lambda: dsa.generate_private_key(2048), r"^DSA keys are not accepted"),
    ],
)
def test_refused_key_types_are_named(private_key, message: str) -> None:  # noqa: ANN001
    key = private_key()
    with pytest.raises(BadCSRError, match=message):
        check_public_key(key.public_key())


def test_ed25519_csr_is_refused_after_its_signature_verifies() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, None)
    assert csr.is_signature_valid
    with pytest.raises(BadCSRError, match="^Ed25519 keys are not accepted"):
        check_csr(csr)


# --- RSA key quality ---------------------------------------------------------------------------------


def test_unusual_rsa_sizes_are_refused_with_the_size_found() -> None:
    for bits in (2040, 2056, 8192):
        n = (1 << (bits - 1)) | secrets.randbits(bits - 1) | 1
        with pytest.raises(BadCSRError, match=f"^RSA key of {bits} bits is not accepted"):
            check_public_key(_rsa_public(n))


def test_exponent_other_than_65537_is_refused() -> None:
    n = random_prime(1024) * random_prime(1024)
    with pytest.raises(BadCSRError, match="^RSA public exponent 17 is not accepted"):
        check_public_key(_rsa_public(n, 17))
    check_public_key(_rsa_public(n))


def _modulus_with_factor(small: int) -> int:
    """small * m, 2048 bits, m odd with no prime factor below 10000 (m need not be prime for this check)."""
    odd = range(3, 10_000, 2)
    primes_below_10000 = math.prod(r for r in odd if all(r % s for s in range(3, math.isqrt(r) + 1, 2)))
    low = (1 << 2047) // small + 1
    while True:
        m = (low + secrets.randbelow(low // 2)) | 1
        if math.gcd(m, primes_below_10000) == 1 and (small * m).bit_length() == 2048:
            return small * m


def test_small_prime_factor_is_refused_and_the_bound_is_10000() -> None:
    with pytest.raises(BadCSRError, match="prime factor below 10000"):
        check_public_key(_rsa_public(_modulus_with_factor(9973)))  # largest prime < 10000
    check_public_key(_rsa_public(_modulus_with_factor(10007)))  # smallest prime > 10000: not our test


def test_fermat_round_count_is_exact() -> None:
    """n = p*q is found when a reaches (p+q)/2, i.e. after (p+q)/2 - ceil(sqrt(n)) + 1 rounds."""
    p, q = 1_000_003, 1_020_019
    n = p * q
    needed = (p + q) // 2 - (math.isqrt(n) + 1) + 1
    assert needed > 1
    assert is_fermat_factorable(n, rounds=needed)
    assert not is_fermat_factorable(n, rounds=needed - 1)
    assert is_fermat_factorable(p * p, rounds=0)  # a perfect square needs no round at all


def test_fermat_100_rounds_on_2048_bit_keys() -> None:
    p = random_prime(1024)
    close = next_prime(p + 2**500)  # round count ~ (q-p)^2 / (8 sqrt n): first round
    far = next_prime(p + 2**530)  # ~ 2^33 rounds: out of reach
    with pytest.raises(BadCSRError, match="Fermat"):
        check_public_key(_rsa_public(p * close))
    assert not is_fermat_factorable(p * far)


@pytest.fixture(scope="module")
def roca_public_key() -> rsa.RSAPublicKey:
    return roca_key(2048).public_key()


def test_roca_structured_key_is_refused(roca_public_key: rsa.RSAPublicKey) -> None:
    """Primes built as k*M + 65537^a mod M (Nemec et al. 2017). Cross-checked once with badkeys -c roca."""
    assert roca_public_key.key_size == 2048
    with pytest.raises(BadCSRError, match=r"^RSA key is ROCA-vulnerable \(Infineon CVE-2017-15361\)"):
        check_public_key(roca_public_key)


def test_roca_csr_is_refused_end_to_end() -> None:
    key = roca_key(2048)
    with pytest.raises(BadCSRError, match="ROCA"):
        parse_and_check_csr(csr_for(key))


def test_half_roca_key_is_not_flagged() -> None:
    """Only one ROCA-structured prime: n mod r leaves the subgroup, so the test is not trivially true."""
    n = roca_prime(1024) * random_prime(1024)
    assert not has_roca_fingerprint(n)


def test_random_moduli_and_keys_are_not_flagged_as_roca() -> None:
    for _ in range(2000):
        assert not has_roca_fingerprint(secrets.randbits(2048) | 1)
    for _ in range(3):
        key = rsa.generate_private_key(65537, 2048)
        assert not has_roca_fingerprint(key.public_key().public_numbers().n)
        check_public_key(key.public_key())


def test_rsa_key_from_primes_helper_builds_the_modulus_asked_for() -> None:
    p, q = random_prime(1024), random_prime(1024)
    key = rsa_key_from_primes(p, q)
    assert key.public_key().public_numbers().n == p * q


# --- EC points ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()])
def test_ec_point_validation(curve: ec.EllipticCurve) -> None:
    numbers = ec.generate_private_key(curve).public_key().public_numbers()
    assert is_valid_ec_point(curve.name, numbers.x, numbers.y)
    assert not is_valid_ec_point(curve.name, numbers.x, numbers.y + 1)
    assert not is_valid_ec_point(curve.name, numbers.x, 0)
    p256 = 2**256 - 2**224 + 2**192 + 2**96 - 1
    p = p256 if curve.name == "secp256r1" else 2**384 - 2**128 - 2**96 + 2**32 - 1
    assert not is_valid_ec_point(curve.name, numbers.x + p, numbers.y)  # same residue, out of range


# --- SPKI fingerprint --------------------------------------------------------------------------------


@pytest.mark.parametrize("key_type", ["ec-p256", "rsa-2048"])
def test_spki_sha256_hashes_the_subject_public_key_info(key_type: str) -> None:
    key, pem = good_csr(key_type)
    spki_der = asn1_csr.CertificationRequest.load(load_csr(pem).public_bytes(serialization.Encoding.DER))[
        "certification_request_info"
    ]["subject_pk_info"].dump()
    fingerprint = spki_sha256(key.public_key())
    assert fingerprint == hashlib.sha256(spki_der).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    assert fingerprint == spki_sha256(load_csr(pem).public_key())
    assert fingerprint != spki_sha256(good_csr(key_type)[0].public_key())
