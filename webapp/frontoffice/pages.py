"""HTML and JSON rendering of the front office: refusal pages and the demo pages share one shell.

Every value is escaped (html.escape); pages carry a strict Content-Security-Policy and are never cached,
since they show who the person is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from gettext import NullTranslations
from html import escape
from typing import Any

from enrollment.access.views import AccessDecision
from enrollment.words import translations
from webapp.frontoffice.words import ENGLISH, N_, page_locale, say
from webapp.look import page

StartResponse = Callable[..., Any]
REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           500: "Internal Server Error", 503: "Service Unavailable"}
RETRY_AFTER_SECONDS = 5
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
]
# Front-office classes on top of the portal's stylesheet (webapp/look.py inlines it).
_STYLE = (".refused{border-left:4px solid #b3261e;padding:.2rem 1rem;background:#fff4f4;border-radius:6px}"
          "dl{display:grid;grid-template-columns:max-content auto;gap:.3rem 1rem}dt{font-weight:600}"
          "main ul{padding-left:1.2rem}")


def wants_json(environ: dict[str, Any]) -> bool:
    """JSON when the client asks for it before (or instead of) HTML: API clients, curl -H 'Accept: ...'."""
    accept = environ.get("HTTP_ACCEPT", "")
    json_at = accept.find("application/json")
    if json_at < 0:
        return False
    html_at = accept.find("text/html")
    return html_at < 0 or json_at < html_at


def status_line(status: int) -> str:
    return f"{status} {REASONS.get(status, 'Error')}"


def response_headers(body: bytes, content_type: str, extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """Every answer of the front office carries the security headers (never cached: it shows who you are)."""
    return [("Content-Type", content_type), ("Content-Length", str(len(body))), *SECURITY_HEADERS, *extra]


def respond(start_response: StartResponse, status: int, body: bytes, content_type: str,
            extra: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    start_response(status_line(status), response_headers(body, content_type, extra))
    return [body]


def html_page(title: str, body: str, portal_url: str, words: NullTranslations = ENGLISH, lang: str = "en") -> bytes:
    """The portal's look (webapp.look): its stylesheet, a header linking back to the portal (issue 15 item 5)."""
    return page(title, f"<div class=\"card\">{body}</div>", portal_url=portal_url, site=words.gettext("Front office"),
                footer=words.gettext("Portail PKI front office"), style=_STYLE, lang=lang,
                portal_label=words.gettext("Certificate portal"))


def identity_html(decision: AccessDecision, words: NullTranslations = ENGLISH) -> str:
    rows = [("Name", decision.full_name), ("E-mail", decision.email), ("Company", decision.company_name),
            ("EIC", decision.eic)]
    items = "".join(f"<dt>{escape(words.gettext(k))}</dt><dd class=\"{escape(k.lower())}\">{escape(v or '-')}</dd>"
                    for k, v in rows if v)
    return f"<dl class=\"identity\">{items}</dl>" if items else ""


def refusal(environ: dict[str, Any], start_response: StartResponse, decision: AccessDecision) -> list[bytes]:
    if wants_json(environ):
        answer = json.dumps({"error": decision.code, "message": decision.message, "action": decision.action,
                             "portal_url": decision.portal_url, "serial": decision.serial,
                             "service": decision.service}, separators=(",", ":")).encode()
        return respond(start_response, decision.status, answer, "application/json")
    portal = escape(decision.portal_url)
    lang = page_locale(environ)
    words = translations(lang)
    _ = words.gettext
    body = (f"<h1>{escape(_('Access refused'))}</h1><div class=\"refused\" data-code=\"{escape(decision.code)}\">"
            f"<p class=\"message\">{escape(say(words, decision.message))}</p>"
            f"<p class=\"action\">{escape(say(words, decision.action))}</p>"
            f"</div>{identity_html(decision, words)}"
            f"<p>{escape(_('Portal:'))} <a href=\"{portal}\">{portal}</a></p>"
            f"<p><small>{escape(_('Reason code:'))} <code>{escape(decision.code)}</code>"
            + (f" — {escape(_('certificate serial'))} <code>{escape(decision.serial)}</code>"
               if decision.serial else "")
            + "</small></p>")
    return respond(start_response, decision.status,
                   html_page(_("Access refused"), body, decision.portal_url, words, lang), "text/html; charset=utf-8")


def unavailable(environ: dict[str, Any], start_response: StartResponse, portal_url: str) -> list[bytes]:
    """The gate cannot decide (the ledger is unavailable): it fails closed, nobody gets in, with a 503 that
    says so and when to retry."""
    message = N_("The front office cannot check certificates right now.")
    action = N_("Please try again in a few moments.")
    retry = [("Retry-After", str(RETRY_AFTER_SECONDS))]
    if wants_json(environ):
        answer = json.dumps({"error": "unavailable", "message": message, "action": action,
                             "portal_url": portal_url}, separators=(",", ":")).encode()
        return respond(start_response, 503, answer, "application/json", retry)
    portal = escape(portal_url)
    lang = page_locale(environ)
    words = translations(lang)
    _ = words.gettext
    body = (f"<h1>{escape(_('Temporarily unavailable'))}</h1><div class=\"refused\" data-code=\"unavailable\">"
            f"<p class=\"message\">{escape(_(message))}</p><p class=\"action\">{escape(_(action))}</p></div>"
            f"<p>{escape(_('Portal:'))} <a href=\"{portal}\">{portal}</a></p>")
    return respond(start_response, 503, html_page(_("Temporarily unavailable"), body, portal_url, words, lang),
                   "text/html; charset=utf-8", retry)
