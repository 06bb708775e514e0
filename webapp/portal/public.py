"""Pages anyone may open: login, logout, sign-up, e-mailed links, password reset."""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from werkzeug.wrappers import Response

from ca.errors import BadRequestError, NotAuthorizedError, NotFoundError
from enrollment.accounts.activation import describe_link, request_password_reset, use_link
from enrollment.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from enrollment.accounts.sessions import log_in, log_out
from enrollment.accounts.signup import sign_up
from webapp.portal.auth import SESSION_KEY, mail_queue, principal, runtime, source_ip

bp = Blueprint("public", __name__)


_MAX_NEXT = 2048


def _refuse_control_characters(target: str | None) -> None:
    """A raw control character (a newline above all) cannot be put in a Location header: a clear 400."""
    if target and any(unicodedata.category(c) in ("Cc", "Cf") for c in target):
        raise BadRequestError("the page to return to after login is not a valid address")


def _is_site_path(target: str) -> bool:
    """True for `/path…` of this site, in every form a browser could read it: browsers drop tabs and
    newlines, read `\\` as `/`, and the value may come percent-encoded (even twice) — so each decoded form
    must still be a plain path, never `//host`, `/\\host` or `scheme:` (ASVS 5.0 V15 open redirect)."""
    seen = target
    for _ in range(4):
        browser_view = "".join(c for c in seen if unicodedata.category(c) not in ("Cc", "Cf")).strip()
        browser_view = browser_view.replace("\\", "/")
        if not browser_view.startswith("/") or browser_view.startswith("//"):
            return False
        parts = urlsplit(browser_view)
        if parts.scheme or parts.netloc:
            return False
        decoded = unquote(seen)
        if decoded == seen:
            return True
        seen = decoded
    return False  # encoded more than three times over: not a link our pages make


def page_locale() -> str | None:
    """The language of this page (webapp.i18n's choice): the one an e-mail sent from it is written in."""
    locale = get_locale()
    return str(locale) if locale is not None else None


def _safe_next(target: str | None) -> str:
    """Only a path on this site: anything else goes home (no open redirect)."""
    _refuse_control_characters(target)
    if target and len(target) <= _MAX_NEXT and _is_site_path(target):
        return target
    return url_for("account.home")


@bp.get("/")
def index() -> Response:
    return redirect(url_for("account.home") if principal() else url_for("public.login"))


@bp.get("/login")
def login_form() -> str:
    return render_template("login.html", next=request.args.get("next", ""), email="")


@bp.post("/login")
def login() -> Response | tuple[str, int]:
    email = request.form.get("email", "")
    _refuse_control_characters(request.form.get("next"))  # before the login: a refusal changes nothing
    try:
        result = log_in(runtime(), email=email, password=request.form.get("password", ""), source_ip=source_ip())
    except NotAuthorizedError as exc:
        return render_template("login.html", error=str(exc), email=email[:254],
                               next=request.form.get("next", "")), 401
    session.clear()  # a new session (and a new CSRF secret) at every login: no fixation (ASVS 7.2.4)
    session[SESSION_KEY] = result.session_token
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> Response:
    token = session.get(SESSION_KEY)
    if token:
        log_out(runtime(), token, source_ip=source_ip())
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("public.login"))


@bp.get("/signup")
def signup_form() -> str:
    return render_template("signup.html", form={}, min_length=MIN_LENGTH, max_length=MAX_LENGTH)


@bp.post("/signup")
def signup() -> str | tuple[str, int]:
    form = request.form
    try:
        sign_up(runtime(), email=form.get("email", ""), full_name=form.get("full_name", ""),
                company_eic=form.get("company_eic") or None, source_ip=source_ip(),
                locale=page_locale())
    except (BadRequestError, NotFoundError) as exc:
        kept = {k: form.get(k, "") for k in ("email", "full_name", "company_eic")}
        return render_template("signup.html", error=str(exc), form=kept, min_length=MIN_LENGTH,
                               max_length=MAX_LENGTH), 400
    return render_template("message.html", title="Check your mailbox",
                           message="We sent a link to the address you gave. Open it to confirm your account and "
                                   "choose your password; it expires in a few days.")


@bp.get("/activate/<token>")
def activate_form(token: str) -> str:
    info = describe_link(runtime(), token)
    return render_template("activate.html", info=info, token=token, min_length=MIN_LENGTH, max_length=MAX_LENGTH)


@bp.post("/activate/<token>")
def activate(token: str) -> Response | tuple[str, int]:
    password, confirmation = request.form.get("password"), request.form.get("password_confirmation")
    try:
        if password is not None and password != confirmation:
            raise BadRequestError("the two passwords differ")
        info = use_link(runtime(), token, password=password, source_ip=source_ip())
    except BadRequestError as exc:
        return render_template("activate.html", info=describe_link(runtime(), token), token=token, error=str(exc),
                               min_length=MIN_LENGTH, max_length=MAX_LENGTH), 400
    session.clear()
    messages = {"activate": "Your account is active. Log in with your new password.",
                "reset": "Your password was changed. Log in with it.",
                "confirm": "Your address is confirmed and your password saved. Log in to continue."}
    flash(messages[info.purpose], "success")
    return redirect(url_for("public.login"))


@bp.get("/password-reset")
def password_reset_form() -> str:
    return render_template("password_reset.html")


@bp.post("/password-reset")
def password_reset() -> str:
    # After the answer, on the mail thread: the same work here for every address (no enumeration by timing).
    mail_queue().submit(request_password_reset, runtime=runtime(), email=request.form.get("email", "")[:254],
                        source_ip=source_ip(), locale=page_locale())
    return render_template("message.html", title="Check your mailbox",
                           message="If this address has an account, a link to choose a new password is on its "
                                   "way. It expires in a few days.")
