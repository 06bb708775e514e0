"""`GET /pki/`: an HTML index of the public repository, one line per file on what it is for (issue 15 item 4).

Built from the same document table the repository serves, so the index cannot list a file that is not there
or miss one that is. The OCSP responder (RFC 6960 §A.1 POST, RFC 5019 §5 GET) is a URL, not a file: it gets
its own line. The page is in the browser's language (issue 15 item 1, webapp.look.browser_locale): one index
per language is built with the table. The table's titles and purposes are English (revocation.repository,
below the web layer); they are listed here by shape (webapp.message_shapes) so the index shows them
translated, values (an issuer's name) put back.
"""

from __future__ import annotations

from gettext import NullTranslations
from html import escape

from ca.locales import SUPPORTED_LOCALES
from ca.x509 import repository_paths as paths
from enrollment.words import translations
from revocation.repository import Document
from webapp.look import page
from webapp.message_shapes import shapes, translate_shaped

HTML_TYPE = "text/html; charset=utf-8"


def N_(message: str) -> str:
    return message


# The words of revocation.repository.repository_documents, each value a `%(name)s`.
DOCUMENT_WORDS: tuple[str, ...] = (
    N_("Root CA certificate (DER)"), N_("Root CA certificate (PEM)"),
    N_("the trust anchor: install it in browsers and trust stores, or give it to openssl as -CAfile"),
    N_("Issuing CA %(name)s (DER)"), N_("Issuing CA %(name)s (PEM)"),
    N_("intermediate certificate signed by the root; %(state)s; send it with a client certificate chain"),
    N_("retired: still signs its CRL until its last certificate expires"), N_("issues the subscriber certificates"),
    N_("Cross-certificate %(name)s (DER)"), N_("links an old and a new root during a root rollover"),
    N_("Root CRL (DER)"),
    N_("the issuing CAs the root has revoked (RFC 5280 §5); renewed by the offline root ceremony"),
    N_("CRL of %(name)s (DER)"),
    N_("every revoked certificate of this issuer (RFC 5280 §5); renewed before its nextUpdate"),
)
_SHAPED = shapes(DOCUMENT_WORDS)


def _row(href: str, title: str, encoding: str, purpose: str) -> str:
    return (f"<tr><td><a href=\"{escape(href)}\">{escape(title)}</a><br><code>{escape(href)}</code></td>"
            f"<td>{escape(encoding)}</td><td>{escape(purpose)}</td></tr>")


def _encoding(document: Document, words: NullTranslations) -> str:
    return words.gettext("PEM (text)") if document.media_type.endswith("pem-file") else words.gettext("DER (binary)")


def index_path(locale: str) -> str:
    """Where the index of one language sits in the document table: `#` never reaches PATH_INFO (a URL's
    fragment is not sent, RFC 3986 §3.5), so no served path can collide with it."""
    return f"{paths.INDEX}#{locale}"


def index_documents(documents: dict[str, Document], *, base_url: str, portal_url: str) -> dict[str, Document]:
    """The index in every supported language, keyed by index_path."""
    return {index_path(locale): index_document(documents, base_url=base_url, portal_url=portal_url,
                                               words=translations(locale), lang=locale)
            for locale in SUPPORTED_LOCALES}


def index_document(documents: dict[str, Document], *, base_url: str, portal_url: str,
                   words: NullTranslations | None = None, lang: str = "en") -> Document:
    words = words if words is not None else NullTranslations()
    _ = words.gettext
    base = base_url.rstrip("/")
    rows = [_row(base + path, translate_shaped(_, doc.title, _SHAPED), _encoding(doc, words),
                 translate_shaped(_, doc.purpose, _SHAPED))
            for path, doc in sorted(documents.items(), key=lambda item: _order(item[0])) if doc.title]
    ocsp = base + paths.OCSP
    rows.append(_row(ocsp, _("OCSP responder"), _("DER requests and answers"),
                     _("the live status of one certificate: POST application/ocsp-request here (RFC 6960), "
                       "or GET %(url)s/<base64 request> (RFC 5019)") % {"url": ocsp}))
    body = (f"<h1>{escape(_('Public repository'))}</h1><p>"
            + _("What relying parties need to check certificates of this PKI. Every CA certificate is served "
                "twice: <code>.crt</code> is DER (binary, the form certificates point to), <code>.pem</code> is "
                "PEM (text, for <code>openssl -CAfile</code> and trust stores). CRLs are DER.")
            + f"</p><div class=\"card\"><table><thead><tr><th>{escape(_('File'))}</th>"
            f"<th>{escape(_('Encoding'))}</th><th>{escape(_('What it is for'))}</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>")
    html = page(_("Public repository"), body, portal_url=portal_url, site=_("Portail PKI repository"),
                footer=_("Portail PKI · public repository"), lang=lang, portal_label=_("Certificate portal"))
    return Document(HTML_TYPE, html)


def _order(path: str) -> tuple[int, str]:
    """Root first, then issuers, cross-certificates and CRLs."""
    for rank, prefix in enumerate((paths.PREFIX + "/root.", paths.PREFIX + "/ca/", paths.PREFIX + "/cross/")):
        if path.startswith(prefix):
            return rank, path
    return 3, path
