"""A small demo front office behind the gate: who you are, your services, your perimeter.

It trusts only `environ['pki.access']`, the decision the gate made; it never reads a certificate or a
header itself. A page is a function of the decision, the path and the language, so it is rendered once
per decision the gate holds (the gate hands the same decision object until the ledger changes).
Routes: `/` (any valid certificate), `/services/<code>` (granted services only), and
`/services/<code>/points/<point>` (a connection point of the perimeter). JSON when Accept asks for it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from gettext import NullTranslations
from html import escape
from typing import Any

from enrollment.access.bounded import BoundedDict
from enrollment.access.views import AccessDecision
from enrollment.words import translations
from webapp.frontoffice.gate import ENVIRON_KEY, route
from webapp.frontoffice.pages import html_page, identity_html, respond, response_headers, status_line, wants_json
from webapp.frontoffice.words import DEFAULT_LOCALE_KEY, page_locale

MAX_PAGES = 10_000
PageKey = tuple[int, str, str, str, bool]
Headers = list[tuple[str, str]]


def _services_html(decision: AccessDecision, words: NullTranslations) -> str:
    if not decision.services:
        none = words.gettext("No service has been granted to you yet: ask your company's administrator.")
        return f"<p class=\"no-services\">{escape(none)}</p>"
    items = "".join(f"<li data-service=\"{escape(s.code)}\"><a href=\"/services/{escape(s.code)}\">"
                    f"{escape(s.name)}</a></li>" for s in decision.services)
    return f"<ul class=\"services\">{items}</ul>"


def _points_html(decision: AccessDecision, words: NullTranslations) -> str:
    """The perimeter, each connection point a link to its page in this service (issue 15 item 5)."""
    if not decision.connection_points:
        none = words.gettext("No connection point is in your perimeter for this service.")
        return f"<p class=\"no-points\">{escape(none)}</p>"
    service = escape(decision.service or "")
    items = "".join(f"<li data-point=\"{escape(p.code)}\"><a href=\"/services/{service}/points/{escape(p.code)}\">"
                    f"<code>{escape(p.code)}</code> {escape(p.label)}</a></li>" for p in decision.connection_points)
    return f"<ul class=\"points\">{items}</ul>"


def _service_name(decision: AccessDecision) -> str:
    return next((s.name for s in decision.services if s.code == decision.service), decision.service or "")


class DemoFrontOffice:
    def __init__(self) -> None:
        # (decision, status line, headers, body): a page held is answered without building anything
        self._pages: BoundedDict[PageKey, tuple[AccessDecision, str, Headers, bytes]] = BoundedDict(MAX_PAGES)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        decision: AccessDecision | None = environ.get(ENVIRON_KEY)
        if decision is None or not decision.allowed:  # mounted without the gate: refuse, never guess
            return respond(start_response, 403, b"forbidden\n", "text/plain; charset=utf-8")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return respond(start_response, 405, b"method not allowed\n", "text/plain; charset=utf-8",
                           [("Allow", "GET, HEAD")])
        path = environ.get("PATH_INFO") or "/"
        service, point = route(path)
        if path != "/" and service is None:
            return respond(start_response, 404, b"not found\n", "text/plain; charset=utf-8")
        as_json = wants_json(environ)
        key = (id(decision), path, environ.get("HTTP_ACCEPT_LANGUAGE", ""), str(environ.get(DEFAULT_LOCALE_KEY)),
               as_json)
        held = self._pages.get(key)
        if held is not None and held[0] is decision:  # the id of a live object: the same decision
            start_response(held[1], list(held[2]))
            return [held[3]]
        if as_json:
            body, content_type = json.dumps(decision.to_dict(), separators=(",", ":")).encode(), "application/json"
        else:
            body, content_type = self._html(environ, decision, service, point), "text/html; charset=utf-8"
        with self._lock:
            self._pages[key] = (decision, status_line(200), response_headers(body, content_type), body)
        return respond(start_response, 200, body, content_type)

    @staticmethod
    def _html(environ: dict[str, Any], decision: AccessDecision, service: str | None, point: str | None) -> bytes:
        lang = page_locale(environ)
        words = translations(lang)
        _ = words.gettext
        if service is None:
            title, main = _("Front office"), _services_html(decision, words)
        elif point is None:
            title = _service_name(decision)
            perimeter, services = escape(_("Your perimeter")), escape(_("Your services"))
            main = (f"<h2>{perimeter}</h2>{_points_html(decision, words)}"
                    f"<h2>{services}</h2>{_services_html(decision, words)}")
        else:
            label = next((p.label for p in decision.connection_points if p.code == point), point)
            back = escape(_("Back to the service"))
            title = f"{_service_name(decision)} — {point}"
            main = (f"<p class=\"point\" data-point=\"{escape(point)}\"><code>{escape(point)}</code> "
                    f"{escape(label)}</p><p><a href=\"/services/{escape(service)}\">{back}</a></p>")
        welcome = _("Welcome, %(name)s.") % {"name": decision.full_name or ""}
        heading = f"<h1>{escape(title)}</h1><p class=\"welcome\">{escape(welcome)}</p>"
        return html_page(title, heading + identity_html(decision, words) + main, decision.portal_url, words, lang)
