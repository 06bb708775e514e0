"""Valid EIC codes in bulk for list tests (the check character computed by the ledger's own rule)."""

from __future__ import annotations

from ca.errors import BadRequestError
from ca.x509.names import eic_check_character


def eic_for(number: int) -> str:
    """A valid EIC for `number` in the 11Y range no other test uses (a code without a check character is
    skipped by moving to another range)."""
    while True:
        first15 = f"11Y{number:012d}"
        try:
            return first15 + eic_check_character(first15)
        except BadRequestError:
            number += 10**11
