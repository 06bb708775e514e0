"""The JSON API's CSRF check (ASVS 5.0 V3.5.1): a state-changing call authenticated by the session cookie
carries in `X-CSRF-Token` the token GET /api/v1/me handed out, Flask-WTF's signed form of the session's
`csrf_token` (flask_wtf.csrf.generate_csrf).

Flask-WTF's own `validate_csrf` reads the session through Flask's request context, which the API's upload
path does not build (webapp.api.upload_fast_path); this is the same check over the session passed in, and
both paths of the API call it (webapp.api._authenticate). tests/api/test_upload_fast_path.py holds its
verdicts equal to `validate_csrf`'s for valid, foreign, tampered, missing and expired tokens.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFError
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

CSRF_SALT = "wtf-csrf-token"  # flask_wtf.csrf.generate_csrf signs with this salt


@lru_cache(maxsize=8)
def _serializer(secret: str | bytes) -> URLSafeTimedSerializer:
    """One serializer per secret: building one costs about a third of a token check."""
    return URLSafeTimedSerializer(secret, salt=CSRF_SALT)


def check_csrf_header(app: Flask, session: Mapping[str, Any], token: str | None) -> None:
    """Raises CSRFError (with the reason, for the log) unless `token` is this session's signed CSRF token,
    under the configuration Flask-WTF reads (WTF_CSRF_SECRET_KEY or SECRET_KEY, WTF_CSRF_FIELD_NAME,
    WTF_CSRF_TIME_LIMIT)."""
    config = app.config
    secret: Any = config.get("WTF_CSRF_SECRET_KEY", app.secret_key)
    field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    time_limit = config.get("WTF_CSRF_TIME_LIMIT", 3600)
    if not token:
        raise CSRFError("The CSRF token is missing.")
    if field not in session:
        raise CSRFError("The CSRF session token is missing.")
    try:
        value = _serializer(secret).loads(token, max_age=time_limit)
    except SignatureExpired:
        raise CSRFError("The CSRF token has expired.") from None
    except BadData:
        raise CSRFError("The CSRF token is invalid.") from None
    if not isinstance(value, str) or not hmac.compare_digest(session[field], value):
        raise CSRFError("The CSRF tokens do not match.")
