"""Public key quality checks run on every CSR before anything is recorded (DESIGN §4 step 1).

CA/B Forum BR §6.1.5 (key sizes and curves), §6.1.6 (e = 65537) and §6.1.1.3 (refuse keys known weak:
small factors, Fermat-factorable, ROCA). Each refusal is one line naming what was found.
"""

from __future__ import annotations

import hashlib
import math

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from ca.errors import BadCSRError

RSA_SIZES = (2048, 3072, 4096)
RSA_EXPONENT = 65537
FERMAT_ROUNDS = 100  # BR §6.1.1.3: "Fermat's factorization method ... at least 100 rounds"
SMALL_FACTOR_BOUND = 10_000


def _primes_below(bound: int) -> list[int]:
    sieve = bytearray([1]) * bound
    sieve[0:2] = b"\x00\x00"
    for i in range(2, math.isqrt(bound) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, bound, i)))
    return [i for i, flag in enumerate(sieve) if flag]


_SMALL_PRIMES_PRODUCT = math.prod(_primes_below(SMALL_FACTOR_BOUND))

# ROCA (Nemec et al., CCS 2017, CVE-2017-15361): Infineon primes are p = k*M + (65537^a mod M), M a
# primorial. For every small prime r dividing M, n mod r then lies in the subgroup of (Z/rZ)* generated
# by 65537. All Infineon key sizes use an M divisible by every prime up to 167; a random modulus
# passes the 38 tests below with negligible probability.
_ROCA_PRIMES = [r for r in _primes_below(168) if r > 2]


def _subgroup(generator: int, modulus: int) -> frozenset[int]:
    members, value = {1}, generator % modulus
    while value not in members:
        members.add(value)
        value = value * generator % modulus
    return frozenset(members)


_ROCA_SUBGROUPS = [(r, _subgroup(RSA_EXPONENT, r)) for r in _ROCA_PRIMES]

# NIST curves over GF(p) with a = -3 (FIPS 186-4 D.1.2.3, D.1.2.4); cofactor 1, so on-curve = in-group.
_CURVES: dict[str, tuple[int, int]] = {
    "secp256r1": (
        2**256 - 2**224 + 2**192 + 2**96 - 1,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    ),
    "secp384r1": (
        2**384 - 2**128 - 2**96 + 2**32 - 1,
        0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
    ),
}
_CURVE_LABELS = {
    "secp192r1": "P-192 (secp192r1)",
    "secp224r1": "P-224 (secp224r1)",
    "secp256r1": "P-256 (secp256r1)",
    "secp384r1": "P-384 (secp384r1)",
    "secp521r1": "P-521 (secp521r1)",
}
_OTHER_TYPES: list[tuple[type, str]] = [
    (ed25519.Ed25519PublicKey, "Ed25519"),
    (ed448.Ed448PublicKey, "Ed448"),
    (dsa.DSAPublicKey, "DSA"),
    (x25519.X25519PublicKey, "X25519"),
    (x448.X448PublicKey, "X448"),
]
_ACCEPTED = "use ECDSA P-256 or P-384, or RSA 2048/3072/4096"


def is_fermat_factorable(n: int, rounds: int = FERMAT_ROUNDS) -> bool:
    """True when n = a² - b² for some a in the first `rounds` values from ceil(√n): primes too close."""
    a = math.isqrt(n)
    if a * a == n:
        return True
    a += 1
    for _ in range(rounds):
        b2 = a * a - n
        b = math.isqrt(b2)
        if b * b == b2:
            return True
        a += 1
    return False


def has_roca_fingerprint(n: int) -> bool:
    """True when n mod r is a power of 65537 mod r for every ROCA prime r (the published fingerprint)."""
    return all(n % r in group for r, group in _ROCA_SUBGROUPS)


def is_valid_ec_point(curve_name: str, x: int, y: int) -> bool:
    """SEC 1 §3.2.2.1 partial validation: coordinates in [0, p) and y² = x³ - 3x + b (mod p)."""
    p, b = _CURVES[curve_name]
    if not (0 <= x < p and 0 <= y < p):
        return False
    return (y * y - (x * x * x - 3 * x + b)) % p == 0


def _check_rsa(key: rsa.RSAPublicKey) -> None:
    numbers = key.public_numbers()
    n, e = numbers.n, numbers.e
    if n.bit_length() not in RSA_SIZES:  # BR §6.1.5: ≥ 2048 and a multiple of 8; we take the usual three
        raise BadCSRError(f"RSA key of {n.bit_length()} bits is not accepted; use 2048, 3072 or 4096 bits")
    if e != RSA_EXPONENT:  # BR §6.1.6
        raise BadCSRError(f"RSA public exponent {e} is not accepted; it must be 65537")
    if math.gcd(n, _SMALL_PRIMES_PRODUCT) != 1:  # BR §6.1.1.3: trivially factorable
        raise BadCSRError(f"RSA modulus has a prime factor below {SMALL_FACTOR_BOUND}; generate a new key")
    if is_fermat_factorable(n):  # BR §6.1.1.3: Fermat, 100 rounds
        raise BadCSRError("RSA key is weak: its primes are too close (Fermat factorization); make a new key")
    if has_roca_fingerprint(n):  # BR §6.1.1.3 / CVE-2017-15361
        raise BadCSRError("RSA key is ROCA-vulnerable (Infineon CVE-2017-15361); make a new key elsewhere")


def _check_ec(key: ec.EllipticCurvePublicKey) -> None:
    name = key.curve.name
    if name not in _CURVES:  # BR §6.1.5: P-256, P-384 (we leave out P-521)
        label = _CURVE_LABELS.get(name, name)
        raise BadCSRError(f"elliptic curve {label} is not accepted; use P-256 or P-384")
    numbers = key.public_numbers()
    if not is_valid_ec_point(name, numbers.x, numbers.y):
        raise BadCSRError(f"EC public key is not a valid point on {_CURVE_LABELS[name]}")


def check_public_key(key: PublicKeyTypes) -> None:
    """Refuse, with a BadCSRError, any key the CA must not certify."""
    if isinstance(key, rsa.RSAPublicKey):
        _check_rsa(key)
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        _check_ec(key)
        return
    for key_type, label in _OTHER_TYPES:
        if isinstance(key, key_type):
            raise BadCSRError(f"{label} keys are not accepted; {_ACCEPTED}")
    raise BadCSRError(f"public key type {type(key).__name__} is not accepted; {_ACCEPTED}")


def spki_sha256(key: PublicKeyTypes) -> str:
    """Lowercase hex SHA-256 of the SubjectPublicKeyInfo DER: the identity of a key, for the blocklist.

    Hashing the whole SPKI (RFC 5280 §4.1.2.7), as RFC 7469 pins do, covers every key type the same way.
    """
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()
