"""The portal's catalogs read outside a web request (issue 15 item 1): e-mails speak their recipient's language.

The notices are built by `pkictl notify run` and the maintenance loop, with no Flask request and so no
Flask-Babel; babel's own `support.Translations` reads the same compiled catalogs
(webapp/translations/<locale>/LC_MESSAGES/messages.mo, made by `make install`) that the pages use, so each
string is translated once. The language is the recipient's saved choice (users.locale), else the site's
`portal.default_locale`.
"""

from __future__ import annotations

from functools import cache
from gettext import NullTranslations
from pathlib import Path

from babel.support import Translations

from ca.locales import SUPPORTED_LOCALES

CATALOGS = Path(__file__).resolve().parent.parent / "webapp" / "translations"


@cache
def translations(locale: str) -> NullTranslations:
    """The catalog of `locale`; English (the msgids themselves) for an unsupported or missing one."""
    if locale not in SUPPORTED_LOCALES:
        return NullTranslations()
    return Translations.load(str(CATALOGS), [locale], domain="messages")


def recipient_words(saved: str | None, default_locale: str) -> NullTranslations:
    """The recipient's saved language when it is a supported one, else the site default."""
    return translations(saved if saved is not None and saved in SUPPORTED_LOCALES else default_locale)
