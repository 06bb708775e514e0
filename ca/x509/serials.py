"""Certificate serial numbers (RFC 5280 §4.1.2.2; CA/B Forum BR §7.1)."""

from __future__ import annotations

import secrets

from ca.errors import BadRequestError

SERIAL_OCTETS = 20


def random_serial_number() -> int:
    """Positive, at most 20 octets, 159 bits from the CSPRNG (BR asks for at least 64).

    The top bit of the first octet is cleared so the DER INTEGER never needs a 21st (sign) octet; a
    zero value is impossible in practice but excluded anyway.
    """
    while True:
        value = secrets.randbits(SERIAL_OCTETS * 8 - 1)
        if value.bit_length() > 64:
            return value


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
