"""Certificate serial numbers (RFC 5280 §4.1.2.2; CA/B Forum BR §7.1).

A serial is 159 bits: a marker bit, a 42-bit time part, then 116 bits from the CSPRNG (BR §7.1 asks for at
least 64). The time part is only a locality hint for the ledger: serials drawn at about the same time sort
next to each other, so the B-tree indexes over (issuer, serial) take each new serial near their right edge
instead of on a random page (the certificates table has several such indexes; a batch of random serials
dirtied a page of each per certificate). It is not the certificate's validity (that is notBefore) and no
code reads it back; uniqueness still comes from the random part and the ledger's unique index, which makes
issuance draw again on a collision.

The marker bit (bit 158) gives every serial exactly 20 octets as a DER INTEGER with a clear top bit (positive,
no 21st sign octet) and exactly 40 hex digits in the ledger, so the text order of `format_serial` is the
numeric order and the time part leads it. Its first 16 hex digits (what the portal shows) still hold 20
random bits; a short file name takes the random tail instead (`serial_tag`).
"""

from __future__ import annotations

import secrets
import time

from ca.errors import BadRequestError

SERIAL_OCTETS = 20
RANDOM_BITS = 116  # from the CSPRNG: BR §7.1's 64 and more
TIME_BITS = 42  # 2^-10 s ticks (about 1 ms), modulo 2^42 (136 years, to 2106: a wrap costs locality once, nothing else)
_MARKER = 1 << (RANDOM_BITS + TIME_BITS)  # bit 158: 20 octets, top bit clear
_TIME_MASK = (1 << TIME_BITS) - 1
assert _MARKER.bit_length() == SERIAL_OCTETS * 8 - 1


def random_serial_number() -> int:
    """Positive, exactly 20 octets: the marker bit, the time part (the system clock in ~1 ms ticks) and 116
    bits from the CSPRNG."""
    tick = (time.time_ns() << 10) // 1_000_000_000 & _TIME_MASK
    return _MARKER | tick << RANDOM_BITS | secrets.randbits(RANDOM_BITS)


def random_part(serial_number: int) -> int:
    """The CSPRNG bits of a serial drawn by `random_serial_number` (tests check their balance)."""
    return serial_number & ((1 << RANDOM_BITS) - 1)


def serial_tag(serial: str, digits: int = 8) -> str:
    """A short tag of a serial (its text, `format_serial`) for a file name: its last hex digits, which are
    random — the leading ones are the same for every certificate drawn within a while."""
    return serial[-digits:]


def parse_serial(text: str) -> int:
    """Operators paste serials in any case, with or without colons or spaces."""
    cleaned = text.strip().replace(":", "").replace(" ", "").lower()
    if cleaned.startswith("0x"):
        cleaned = cleaned[2:]
    if not cleaned or len(cleaned) > 2 * SERIAL_OCTETS + 2 or any(c not in "0123456789abcdef" for c in cleaned):
        raise BadRequestError(f"not a certificate serial number: {text!r} (expected hex digits)")
    return int(cleaned, 16)


def format_serial(serial_number: int) -> str:
    """Lowercase hex, no separators, even length (the ledger and the CLI's JSON both use it)."""
    text = f"{serial_number:x}"
    return text if len(text) % 2 == 0 else "0" + text
