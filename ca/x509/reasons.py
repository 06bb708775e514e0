"""CRL reason codes (RFC 5280 §5.3.1), by their ASN.1 names.

certificateHold (6) and removeFromCRL (8) are left out on purpose: this CA never suspends a certificate
(CA/B Forum BR §4.9.13: no suspension), so nothing is ever put on hold or taken off hold. Value 7 is unused
in the RFC.
"""

from __future__ import annotations

REASON_CODES: dict[str, int] = {
    "unspecified": 0,  # RFC 5280 §5.3.1: omitted from the CRL entry (§5.3.1 "SHOULD be absent")
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}

REASON_NAMES: dict[int, str] = {code: name for name, code in REASON_CODES.items()}
