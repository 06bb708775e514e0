"""The portal's languages (issue 15 item 1): which one a page is in, and the switch between them.

The language of a response is, in order: the logged-in person's saved choice (users.locale), the choice an
anonymous visitor made with the switch (kept in the signed session cookie), the browser's Accept-Language
(RFC 9110 §12.5.4, best match among ca.locales.SUPPORTED_LOCALES), else `portal.default_locale`.
The switch is a POST form with its CSRF token on every page (base.html); it returns to the page it was on,
through the login's own return-path rule (no open redirect, ASVS 5.0 V15).

Use-case errors (ca.errors) keep their English text in the core, where logs and the JSON API read it; the
HTML pages show it translated (`translate_message`), the catalog holding each message that exists
(webapp/error_messages.py marks them for extraction).
"""

from __future__ import annotations

from flask import Blueprint, Flask, g, redirect, request, session
from flask_babel import Babel, get_locale, gettext
from werkzeug.wrappers import Response

from ca.locales import LOCALE_NAMES, SUPPORTED_LOCALES, check_locale, preferred_locale
from enrollment.accounts.language import save_locale
from webapp.error_messages import MESSAGES
from webapp.message_shapes import shapes
from webapp.portal.auth import principal, runtime
from webapp.portal.public import _safe_next  # the login's return-path rule, written once

SESSION_LOCALE = "locale"
bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    current = principal()
    if current is not None and current.locale in SUPPORTED_LOCALES:
        return current.locale  # type: ignore[return-value]  (narrowed by the membership test)
    chosen = session.get(SESSION_LOCALE)
    if chosen in SUPPORTED_LOCALES:
        return str(chosen)
    return browser_locale() or runtime().settings.portal.default_locale


def browser_locale() -> str | None:
    """The supported language the browser prefers most, a region subtag aside (`fr-CA` is French).

    Werkzeug's best_match prefers any exact tag to a better-liked regional one (`en-GB;q=0.8, fr;q=0.5`
    gave French): here the quality values alone order the choice (RFC 9110 §12.5.4, §12.4.2)."""
    return preferred_locale(request.accept_languages)  # sorted by quality, the header's order among equals


_SHAPED = shapes(MESSAGES)


def translate_message(message: object) -> str:
    """A use-case message in the page's language when the catalog has it, else as it came (English)."""
    text = str(message)
    if not text:
        return text
    for msgid, shape in _SHAPED:
        found = shape.fullmatch(text)
        if found:
            return gettext(msgid, **found.groupdict())
    return gettext(text)


def _return_path() -> str:
    """Where the switch sends back to: the page itself for a GET, else home (a POST's URL cannot be re-got)."""
    return request.full_path.rstrip("?") if request.method == "GET" else "/"


@bp.post("/language")
def switch() -> Response:
    locale = check_locale(request.form.get("locale", ""))
    target = _safe_next(request.form.get("next"))
    current = principal()
    if current is not None:
        save_locale(runtime(), current.actor, locale)
    session[SESSION_LOCALE] = locale
    return redirect(target)


def _remember_choice() -> None:
    """before_request: the visitor's choice, read before a login or logout clears the session."""
    g.chosen_locale = session.get(SESSION_LOCALE)


def _keep_choice(response: Response) -> Response:
    """after_request: a login or logout starts a new session (no fixation, ASVS 7.2.4), not a new language."""
    chosen = g.get("chosen_locale")
    if chosen in SUPPORTED_LOCALES and SESSION_LOCALE not in session:
        session[SESSION_LOCALE] = chosen
    return response


def _template_values() -> dict[str, object]:
    return {"current_locale": str(get_locale() or runtime().settings.portal.default_locale),
            "locale_names": LOCALE_NAMES, "language_return_path": _return_path()}


def init_i18n(app: Flask) -> None:
    """Flask-Babel with our selector, the switch route, and what base.html needs to show them."""
    app.config["BABEL_DEFAULT_LOCALE"] = app.extensions["portail.runtime"].settings.portal.default_locale
    Babel(app, locale_selector=select_locale)
    app.register_blueprint(bp)
    app.before_request(_remember_choice)
    app.after_request(_keep_choice)
    app.context_processor(_template_values)
    app.jinja_env.filters["translate_message"] = translate_message
