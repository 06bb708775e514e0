"""The portal's look for pages served outside Flask (the repository index, the front office).

Their language is the browser's Accept-Language (RFC 9110 §12.5.4, the portal's rule: ca.locales), else the
site's `portal.default_locale`: these applications have no session to remember a choice.

The same stylesheet as the portal (webapp/static/portal.css), inlined so that a page needs no second request
and no other origin (the front office's Content-Security-Policy allows inline styles only), and the same
header bar with a link back to the portal. Callers pass HTML they built with html.escape.
"""

from __future__ import annotations

from functools import cache
from html import escape
from pathlib import Path
from typing import Any

from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from ca.locales import preferred_locale

_CSS = Path(__file__).resolve().parent / "static" / "portal.css"


def browser_locale(environ: dict[str, Any], default: str) -> str:
    """The supported language the browser prefers, else `default`."""
    accepted = parse_accept_header(environ.get("HTTP_ACCEPT_LANGUAGE"), LanguageAccept)
    return preferred_locale(accepted) or default


@cache
def stylesheet() -> str:
    return _CSS.read_text(encoding="utf-8")


def page(title: str, body: str, *, portal_url: str, site: str, footer: str, style: str = "", lang: str = "en",
         portal_label: str = "Certificate portal") -> bytes:
    """A whole HTML document: header bar (site name, link to the portal), `body` in <main>, a footer;
    `style` adds rules of the caller's own after the portal's; `lang` and `portal_label` the page's language."""
    portal = escape(portal_url)
    return (
        f"<!doctype html><html lang=\"{escape(lang)}\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)} · Portail PKI</title><style>{stylesheet()}{style}</style></head><body>"
        f"<header><div class=\"bar\"><span class=\"brand\">{escape(site)}</span>"
        f"<nav aria-label=\"main\"><a class=\"portal-link\" href=\"{portal}\">{escape(portal_label)}</a></nav>"
        f"</div></header><main>{body}</main><footer>{escape(footer)}</footer></body></html>"
    ).encode()
