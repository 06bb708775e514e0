"""The portal's HTML pages: public (login, sign-up, links), account (a person's own), admin, operator."""

from __future__ import annotations

from flask import Flask, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from webapp.portal import account, admin, browser_keys, operator, public
from webapp.portal.auth import check_ids, load_principal
from webapp.portal.wording import register_wording


def _login_account_key() -> str:
    """Failed logins count per (account, client address): an attacker slows down only themselves, and the
    owner, elsewhere, still logs in with the right password (ASVS 6.3.1 without lockout abuse)."""
    return "login:" + request.form.get("email", "").strip().lower()[:254] + "|" + (get_remote_address() or "")


def _failed(response: object) -> bool:
    return getattr(response, "status_code", 0) == 401


def register_portal(app: Flask, limiter: Limiter) -> None:
    for blueprint in (public.bp, account.bp, admin.bp, operator.bp, browser_keys.bp):
        app.register_blueprint(blueprint)
    app.url_value_preprocessor(check_ids)
    app.before_request(load_principal)
    app.context_processor(lambda: {"current": g.get("principal")})
    register_wording(app)
    # Failed logins only are counted (deduct_when), per (account, client address) and per client address;
    # the limit is checked before the password, so the answer is 429 whatever the password (ASVS 6.3.1).
    # The (account, address) limit is tiered ("5 per minute; 10 per 15 minutes; ..."): a growing delay.
    settings = app.extensions["portail.runtime"].settings.portal
    view = app.view_functions["public.login"]
    view = limiter.limit(settings.login_limit_ip, key_func=get_remote_address, deduct_when=_failed,
                         scope="login-ip")(view)
    view = limiter.limit(settings.login_limit_account, key_func=_login_account_key, deduct_when=_failed,
                         scope="login-account-address")(view)
    app.view_functions["public.login"] = view
    # Sign-up and reset links send e-mail: cap them per address too. (Re-sent activation links and join
    # requests are limited per account by their use cases, from the audit trail, after authorization.)
    for endpoint in ("public.signup", "public.password_reset"):
        app.view_functions[endpoint] = limiter.limit("20 per hour", key_func=get_remote_address,
                                                     scope=endpoint)(app.view_functions[endpoint])
