"""Golden malformed CSRs, generated at run time (no key material is stored in the repository).

Each bad CSR has exactly one defect; everything else about it is correct (a real, correctly self-signed
CSR), so a test that sees it refused knows which check refused it.
"""

from __future__ import annotations

import math
import os
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

_SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vector")])
_MR_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
_SIEVE_PRIMES = [r for r in range(3, 2000, 2) if all(r % s for s in range(3, math.isqrt(r) + 1, 2))]


def is_probable_prime(n: int, rounds: int = 24) -> bool:
    """Miller-Rabin with fixed small bases then random ones (test helper, not for production keys)."""
    if n < 2:
        return False
    for p in (2, *_SIEVE_PRIMES):  # cheap trial division first: most candidates stop here
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    bases = [a for a in _MR_BASES if a < n - 1] + [2 + secrets.randbelow(n - 3) for _ in range(rounds)]
    for a in bases:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def next_prime(n: int) -> int:
    """The smallest prime >= n, for n > 2."""
    if n % 2 == 0:
        n += 1
    while not is_probable_prime(n):
        n += 2
    return n


def rsa_key_from_primes(p: int, q: int, e: int = 65537) -> rsa.RSAPrivateKey:
    """A private key from chosen primes, so a test controls exactly which weakness the key has."""
    phi = (p - 1) * (q - 1)
    d = pow(e, -1, phi)
    public = rsa.RSAPublicNumbers(e, p * q)
    private = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=public,
    )
    return private.private_key()


def random_prime(bits: int, e: int = 65537) -> int:
    """A prime of exactly `bits` bits with its two top bits set (so p*q has 2*bits bits), gcd(p-1, e) = 1."""
    while True:
        candidate = next_prime(secrets.randbits(bits) | (3 << (bits - 2)) | 1)
        if candidate.bit_length() == bits and math.gcd(candidate - 1, e) == 1:
            return candidate


def csr_for(key: CertificateIssuerPrivateKeyTypes, encoding: str = "pem") -> bytes:
    """A correctly self-signed CSR for `key`, PEM or DER."""
    csr = x509.CertificateSigningRequestBuilder().subject_name(_SUBJECT).sign(key, hashes.SHA256())
    kind = serialization.Encoding.PEM if encoding == "pem" else serialization.Encoding.DER
    return csr.public_bytes(kind)


def good_csr(key_type: str) -> tuple[CertificateIssuerPrivateKeyTypes, bytes]:
    """A fresh key and its PEM CSR for 'ec-p256', 'ec-p384' or 'rsa-2048'."""
    key: CertificateIssuerPrivateKeyTypes
    if key_type == "ec-p256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif key_type == "ec-p384":
        key = ec.generate_private_key(ec.SECP384R1())
    elif key_type == "rsa-2048":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(f"unknown key type {key_type!r}")
    return key, csr_for(key)


def _bad_signature() -> bytes:
    """Valid P-256 CSR whose last signature octet has one bit flipped: still parses, no longer verifies."""
    der = bytearray(csr_for(ec.generate_private_key(ec.SECP256R1()), "der"))
    der[-1] ^= 0x01  # the last octet is inside the ECDSA-Sig-Value s INTEGER
    return bytes(der)


def _fermat_key() -> rsa.RSAPrivateKey:
    """2048-bit key from two consecutive-ish primes: Fermat's method factors it in its first round."""
    p = random_prime(1024)
    q = next_prime(p + 2)
    while math.gcd(q - 1, 65537) != 1:
        q = next_prime(q + 2)
    return rsa_key_from_primes(p, q)


def _huge() -> bytes:
    """A valid PEM CSR padded with blank lines to 1 MiB: only the size limit can refuse it."""
    pem = csr_for(ec.generate_private_key(ec.SECP256R1()))
    return pem + b"\n" * (1024 * 1024 - len(pem))


def build_bad_csrs() -> dict[str, bytes]:
    """Name -> CSR bytes (PEM or DER), one defect each."""
    return {
        "bad-signature": _bad_signature(),
        "rsa-1024": csr_for(rsa.generate_private_key(65537, 1024)),
        "rsa-e3": csr_for(rsa.generate_private_key(3, 2048), "der"),
        "rsa-fermat": csr_for(_fermat_key()),
        "p192": csr_for(ec.generate_private_key(ec.SECP192R1())),
        "secp256k1": csr_for(ec.generate_private_key(ec.SECP256K1()), "der"),
        "garbage": b"\xff" + os.urandom(511),  # 0xff: not a DER SEQUENCE, not PEM
        "empty": b"",
        "huge": _huge(),
    }


def roca_prime(bits: int, primorial_bound: int = 167) -> int:
    """A prime of the ROCA form p = k*M + (65537^a mod M), M = product of primes <= bound (Nemec et al. §2.3).

    The real Infineon M is chosen per key size; any M divisible by every prime up to 167 gives the
    fingerprint, so this is enough to test the detector without an Infineon chip.
    """
    primorial = math.prod(r for r in range(2, primorial_bound + 1) if all(r % s for s in range(2, r)))
    low, high = 3 << (bits - 2), 1 << bits
    while True:
        residue = pow(65537, 1 + secrets.randbelow(1 << 64), primorial)
        k = (low + secrets.randbelow(high - low)) // primorial
        candidate = k * primorial + residue
        if low <= candidate < high and math.gcd(candidate - 1, 65537) == 1 and is_probable_prime(candidate):
            return candidate


def roca_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA key whose two primes have the ROCA structure (and no other weakness)."""
    return rsa_key_from_primes(roca_prime(bits // 2), roca_prime(bits // 2))
