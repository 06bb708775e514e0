"""Expiry said plainly ("expires in 12 days"), for the portal's certificate pages and the e-mails (issue 11).

Counted in whole days down from notAfter (RFC 5280 §4.1.2.5: the certificate is valid through notAfter
inclusive), so "expires in 1 day" is always less than 48 hours away and "expires today" less than 24.
"""

from __future__ import annotations

from datetime import datetime
from gettext import NullTranslations
from typing import Protocol


def days_left(not_after: datetime, now: datetime) -> int:
    """Whole days until notAfter (0 within the last 24 hours, negative once expired)."""
    seconds = (not_after - now).total_seconds()
    return int(seconds // 86400)


class Words(Protocol):
    """What gettext.NullTranslations and babel's Translations offer: the page's or the recipient's language."""

    def gettext(self, message: str, /) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int, /) -> str: ...


ENGLISH: Words = NullTranslations()


def expiry_words(not_after: datetime, now: datetime, status: str = "issued", words: Words = ENGLISH) -> str:
    """The phrase in the language of `words` (English by default; the catalogs hold the French, issue 15)."""
    gettext, ngettext = words.gettext, words.ngettext
    if status == "revoked":
        return gettext("revoked")
    if not_after < now:
        ago = int((now - not_after).total_seconds() // 86400)
        if ago <= 0:
            return gettext("expired today")
        return ngettext("expired %(num)d day ago", "expired %(num)d days ago", ago) % {"num": ago}
    left = days_left(not_after, now)
    if left == 0:
        hours = int((not_after - now).total_seconds() // 3600)
        if hours < 1:
            return gettext("expires today")
        return ngettext("expires in %(num)d hour", "expires in %(num)d hours", hours) % {"num": hours}
    return ngettext("expires in %(num)d day", "expires in %(num)d days", left) % {"num": left}
