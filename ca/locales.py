"""The portal's languages (issue 15 item 1): one list, checked once, for settings, the ledger and the web.

Tags are the primary language subtags of BCP 47 (RFC 5646 §2.2.1), as HTML's `lang` attribute and HTTP's
Accept-Language (RFC 9110 §12.5.4) spell them.
"""

from __future__ import annotations

from ca.errors import BadRequestError

SUPPORTED_LOCALES: tuple[str, ...] = ("fr", "en")
# The name of each language in itself: a switch must be readable by someone who does not read the page.
LOCALE_NAMES: dict[str, str] = {"fr": "Français", "en": "English"}


def check_locale(value: str, where: str = "the language") -> str:
    """The locale itself when supported, else a BadRequestError that names the supported ones."""
    if value not in SUPPORTED_LOCALES:
        raise BadRequestError(f"{where} must be one of {', '.join(SUPPORTED_LOCALES)}, not {value[:16]!r}")
    return value
