"""The portal's languages (issue 15 item 1): one list, checked once, for settings, the ledger and the web.

Tags are the primary language subtags of BCP 47 (RFC 5646 §2.2.1), as HTML's `lang` attribute and HTTP's
Accept-Language (RFC 9110 §12.5.4) spell them.
"""

from __future__ import annotations

from collections.abc import Iterable

from ca.errors import BadRequestError

SUPPORTED_LOCALES: tuple[str, ...] = ("fr", "en")
# The name of each language in itself: a switch must be readable by someone who does not read the page.
LOCALE_NAMES: dict[str, str] = {"fr": "Français", "en": "English"}


def check_locale(value: str, where: str = "the language") -> str:
    """The locale itself when supported, else a BadRequestError that names the supported ones."""
    if value not in SUPPORTED_LOCALES:
        raise BadRequestError(f"{where} must be one of {', '.join(SUPPORTED_LOCALES)}, not {value[:16]!r}")
    return value


def preferred_locale(accepted: Iterable[tuple[str, float]]) -> str | None:
    """The supported language an Accept-Language list (tag, quality) prefers most, a region subtag aside
    (`fr-CA` is French). The list comes sorted by quality (werkzeug's LanguageAccept): quality values alone
    order the choice (RFC 9110 §12.5.4, §12.4.2), not an exact tag that is less liked."""
    for tag, quality in accepted:
        primary = tag.split("-", 1)[0].split("_", 1)[0].lower()
        if quality > 0 and primary in SUPPORTED_LOCALES:
            return primary
    return None
