"""The front office's pages in the visitor's language (issue 15 item 1): French or English.

The front office has no session and no login: its language is the browser's Accept-Language (RFC 9110
§12.5.4, the same rule as the portal's, ca.locales.preferred_locale), else `portal.default_locale`. It is a
plain WSGI application, so the catalogs are read with babel's Translations (enrollment.words), the ones the
portal uses. The gate's decisions (enrollment.access.decision) say why in English, values included; the
refusal page shows them translated by their shape (webapp.message_shapes), as listed here.
"""

from __future__ import annotations

from gettext import NullTranslations
from typing import Any

from webapp.look import browser_locale
from webapp.message_shapes import shapes, translate_shaped


def N_(message: str) -> str:
    return message


# The words of enrollment.access.decision, each value a `%(name)s` (kept in step by tests/frontoffice).
DECISIONS: tuple[str, ...] = (
    N_("Your browser did not present a client certificate."),
    N_("Install the certificate (.p12 file) you got from the portal in your browser, or request one at "
       "%(portal)s, then reload this page and choose it when asked."),
    N_("The client certificate could not be read."),
    N_("Use the certificate delivered by the portal; request a new one at %(portal)s."),
    N_("Your certificate could not be verified (%(error)s)."),
    N_("Request a new certificate at %(portal)s."),
    N_("This certificate was not issued by the Portail PKI."),
    N_("Use the certificate delivered by the portal; request one at %(portal)s."),
    N_("This certificate comes from a certification authority (%(issuer)s) that is no longer trusted."),
    N_("This certificate is not in the register of the Portail PKI."),
    N_("This certificate was revoked on %(when)s (%(why)s)."),
    N_("an earlier date"),
    N_("Request a new one at %(portal)s."),
    N_("This certificate was never completely issued."),
    N_("This certificate is not valid before %(when)s."),
    N_("Check your computer's clock, or try again after that date."),
    N_("This certificate expired on %(when)s."),
    N_("This certificate cannot open the front office: %(problem)s."),
    N_("it is not marked for client authentication"),
    N_("it is a certification authority certificate, not a person's"),
    N_("This certificate does not belong to a person of the portal."),
    N_("Use your personal browser certificate; request one at %(portal)s."),
    N_("Your account (%(email)s) is %(state)s."),
    N_("deactivated"),
    N_("not active yet"),
    N_("Ask your company's administrator to activate it, then come back."),
    N_("This certificate was issued for a company you no longer belong to."),
    N_("Ask your new company's administrator to add you, then request a certificate at %(portal)s."),
    N_("Go back to the home page and choose one of your services."),
    N_("Ask your company's administrator to add you to a group that has this service."),
    N_("Ask your company's administrator to add it to your group's perimeter."),
)
_SHAPED = shapes(DECISIONS)
# One TLS verification failure as webapp.frontoffice.direct_tls.describe writes it; several are joined by "; ".
TLS_ERROR = N_("%(problem)s (X509 error %(number)s at depth %(depth)s)")
_TLS_SHAPED = shapes((TLS_ERROR,))
TLS_SEPARATOR = "; "
# The labels of the identity block (webapp.frontoffice.pages.identity_html).
LABELS: tuple[str, ...] = (N_("Name"), N_("E-mail"), N_("Company"), N_("EIC"))
# The words of the refusal and unavailable pages (webapp.frontoffice.pages).
PAGE_WORDS: tuple[str, ...] = (N_("Access refused"), N_("Temporarily unavailable"), N_("Portal:"),
                               N_("Reason code:"), N_("certificate serial"), N_("Certificate portal"))
ENGLISH = NullTranslations()


DEFAULT_LOCALE_KEY = "pki.default_locale"  # set by the gate from portal.default_locale


def page_locale(environ: dict[str, Any]) -> str:
    """The language the browser prefers, else the site's."""
    return browser_locale(environ, str(environ.get(DEFAULT_LOCALE_KEY) or "fr"))



def say(words: NullTranslations, text: str) -> str:
    """A decision's English text in the page's language when listed, else as it came; a TLS failure in it
    ("could not be verified (certificate has expired (X509 error 10 at depth 0))") translated too."""

    def gettext(value: str) -> str:
        if "X509 error" not in value:
            return words.gettext(value)
        return TLS_SEPARATOR.join(translate_shaped(words.gettext, part, _TLS_SHAPED)
                                  for part in value.split(TLS_SEPARATOR))

    return translate_shaped(gettext, text, _SHAPED)
