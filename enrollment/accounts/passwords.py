"""Passwords: argon2id hashes and the rules people are asked to follow (ASVS 5.0 V6).

argon2id with 19 MiB, 2 passes, 1 lane is OWASP's minimum configuration (ASVS 6.2 / password storage
cheat sheet). Lengths 8 to 128 are allowed (ASVS 6.2.1, 6.2.9: at least 64 must be accepted); no
composition rules (6.2.5); well-known passwords are refused (6.2.4).
"""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ca.errors import BadRequestError
from enrollment.accounts.common_passwords import COMMON_PASSWORDS

MIN_LENGTH = 8
MAX_LENGTH = 128
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

_hasher = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                         parallelism=ARGON2_PARALLELISM)
# Verified against when the account does not exist, so both answers cost the same time (ASVS 6.3.8 spirit).
_DUMMY_HASH = _hasher.hash("not a password of anyone, only burns the same time")


def _normalize(password: str) -> str:
    """NFKC, so the same password typed on two keyboards gives the same bytes (ASVS 6.2.x, NIST 800-63B)."""
    return unicodedata.normalize("NFKC", password)


def check_password_rules(password: str, *, email: str | None = None) -> str:
    """Return the normalized password, or refuse it with one sentence a person understands."""
    if not isinstance(password, str):
        raise BadRequestError("password missing")
    password = _normalize(password)
    if len(password) < MIN_LENGTH:
        raise BadRequestError(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise BadRequestError(f"the password must have at most {MAX_LENGTH} characters")
    lowered = password.lower()
    core = lowered.rstrip("0123456789!?.@#$%&*_-+= ")
    if lowered in COMMON_PASSWORDS or core in COMMON_PASSWORDS or len(set(lowered)) <= 2:
        raise BadRequestError("this password is too common: choose another one (a short sentence works well)")
    if email:
        local = email.split("@", 1)[0].lower()
        if len(local) >= 4 and local in lowered and len(lowered) - len(local) < 4:
            raise BadRequestError("the password must not be your e-mail address")
    return password


def hash_password(password: str) -> str:
    """argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`)."""
    return _hasher.hash(_normalize(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account has a hash; never raises on a wrong password."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, _normalize(password)) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the cost parameters were raised since the hash was made (upgrade at the next login)."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
