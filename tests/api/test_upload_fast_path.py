"""The CSR upload fast path (webapp.api.upload_fast_path) answers exactly what the Flask path answers.

Every case runs twice from the same state, once with the fast path and once with Flask alone (two clients
logged in alike, FixedClock): status, headers, JSON body (ids and serials aside) and what the ledger
gained must be the same; the cases the fast path must answer itself are counted, so that the comparison
cannot pass by both calls going to Flask.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from sqlalchemy import func, select
from wtforms import ValidationError

from ca.ledger.models import AuditEvent, BlockedKey, CertificateRecord, CertificateRequest
from ca.ledger.portal_models import PortalSession
from enrollment.accounts.members import detach_user
from enrollment.requests.approval import set_approval_policy
from tests.portal.support import login
from tests.vectors.bad_csrs import good_csr
from webapp.api.csrf_header import check_csrf_header
from webapp.api.upload_fast_path import UploadFastPath

URL = "/api/v1/requests"
_ID = re.compile(r'"(id|certificate_serial)":("[0-9a-f]+"|\d+)')


def _ledger(runtime) -> dict[str, int]:
    with runtime.sessionmaker() as session:
        return {model.__tablename__: session.execute(select(func.count()).select_from(model)).scalar_one()
                for model in (CertificateRequest, CertificateRecord, AuditEvent, PortalSession, BlockedKey)}


def _statuses(runtime) -> list[str]:
    with runtime.sessionmaker() as session:
        return list(session.execute(select(CertificateRequest.status).order_by(CertificateRequest.id)).scalars())


def _answer(response) -> tuple[int, list[tuple[str, str]], str]:
    headers = [(k, v) for k, v in response.headers.items() if k not in ("X-Request-ID", "Content-Length")]
    return response.status_code, headers, _ID.sub(r'"\1":"*"', response.get_data(as_text=True))


def _tampered(token: str) -> str:
    """The token with its first character changed (the last may only carry base64 padding bits)."""
    return ("B" if token[0] != "B" else "C") + token[1:]


def _fast(app) -> UploadFastPath:
    return app.extensions["portail.upload_fast_path"]


def _client(app, world, name: str | None) -> tuple[Any, dict[str, str]]:
    client = app.test_client()
    if name is None:
        return client, {}
    login(client, world.emails[name])
    return client, {"X-CSRF-Token": client.get("/api/v1/me").get_json()["csrf_token"]}


def _both(app, world, runtime, *, who: str | None = "carol", body: Any = None, raw: bytes | None = None,
          headers: dict[str, str] | None = None, token: Callable[[str], str] = lambda t: t,
          between: Callable[[], object] = lambda: None, url: str = URL, content_type: str = "application/json",
          ) -> tuple[int, str]:
    """The same call by the fast path and by Flask, from the same state; returns the fast path's status and
    body after asserting both answers and both ledger changes are the same."""
    fast = _fast(app)
    (fast_client, fast_headers), (flask_client, flask_headers) = _client(app, world, who), _client(app, world, who)
    between()
    _key, csr = good_csr("ec-p256")
    data = raw if raw is not None else json.dumps(body if body is not None else {"csr": csr.decode()}).encode()
    answers, changes = [], []
    for enabled, client, session_headers in ((True, fast_client, fast_headers), (False, flask_client, flask_headers)):
        fast.enabled = enabled
        call_headers = {**session_headers, **(headers or {})}
        if "X-CSRF-Token" in call_headers:
            call_headers["X-CSRF-Token"] = token(call_headers["X-CSRF-Token"])
        before, statuses = _ledger(runtime), len(_statuses(runtime))
        answers.append(_answer(client.post(url, data=data, headers=call_headers, content_type=content_type)))
        after = _ledger(runtime)
        changes.append(({k: after[k] - before[k] for k in after}, _statuses(runtime)[statuses:]))
    fast.enabled = True
    assert answers[0] == answers[1]
    assert changes[0] == changes[1]
    return answers[0][0], answers[0][2]


def test_the_fast_path_mirrors_the_flask_path_of_this_app(app):
    assert _fast(app).active(), "the Flask path changed: see the warning logged by UploadFastPath"


def test_an_upload_is_answered_alike_and_by_the_fast_path(app, world, runtime):
    answered = _fast(app).answered
    status, body = _both(app, world, runtime)
    assert status == 201 and '"status":"issued"' in body
    assert _fast(app).answered == answered + 1


def test_the_use_case_refusals_are_answered_alike_by_the_fast_path(app, world, runtime):
    """A blocked key, a pending request under `manual`: the fast path answers them itself. A damaged CSR is
    refused before the session is read: Flask answers it."""
    answered = _fast(app).answered
    assert _both(app, world, runtime, body={"csr": "garbage"})[0] == 400
    assert _both(app, world, runtime, body={"csr": ""})[0] == 400
    assert _fast(app).answered == answered
    key, csr = good_csr("ec-p256")
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from ca.ledger import store

    spki = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    import hashlib

    with runtime.sessionmaker.begin() as session:
        store.add_blocked_key(session, spki_sha256=hashlib.sha256(spki).hexdigest(), reason="test",
                              at=runtime.clock.now())
    status, body = _both(app, world, runtime, body={"csr": csr.decode()})
    assert status == 400 and "blocked" in body
    set_approval_policy(runtime, world.actor("alice"), policy="manual")
    status, body = _both(app, world, runtime)
    assert status == 201 and '"status":"pending"' in body
    assert _fast(app).answered == answered + 2


@pytest.mark.parametrize("case", ["anonymous", "idle", "too old", "no CSRF", "bad CSRF",
                                  "foreign CSRF", "cross-site", "not JSON", "a list", "csr not a string",
                                  "NUL", "too deep", "text/plain", "query string", "bearer", "no company",
                                  "detached", "operator"])
def test_calls_it_is_not_sure_of_are_flasks_own(app, world, runtime, clock, case):
    answered = _fast(app).answered
    other = _client(app, world, "dave")[1]["X-CSRF-Token"]
    settings = runtime.settings.portal
    cases: dict[str, dict[str, Any]] = {
        "anonymous": {"who": None},
        "idle": {"between": lambda: clock.advance(timedelta(minutes=settings.session_idle_minutes + 1))},
        "too old": {"between": lambda: clock.advance(timedelta(hours=settings.session_absolute_hours + 1))},
        "no CSRF": {"token": lambda t: ""},
        "bad CSRF": {"token": _tampered},
        "foreign CSRF": {"token": lambda t: other},
        "cross-site": {"headers": {"Origin": "https://evil.example"}},
        "not JSON": {"raw": b"not json"},
        "a list": {"raw": b"[1, 2]"},
        "csr not a string": {"body": {"csr": 12}},
        "NUL": {"body": {"csr": "-----BEGIN\x00"}},
        "too deep": {"raw": b'{"csr": ' + b"[" * 40 + b"]" * 40 + b"}"},
        "text/plain": {"content_type": "text/plain"},
        "query string": {"url": URL + "?x=1"},
        "bearer": {"headers": {"Authorization": "Bearer nope"}},
        "no company": {"who": "nina"},
        "detached": {"between": lambda: detach_user(runtime, world.actor("alice"), user_id=world.id("carol"))},
        "operator": {"who": "oscar"},
    }
    status, _body = _both(app, world, runtime, **cases[case])
    assert 400 <= status < 500 or case == "query string"  # Flask takes (and ignores) a query string
    assert _fast(app).answered == answered


def test_a_logged_out_session_is_refused_alike(app, world, runtime):
    """The cookie of a session ended by logout: the fast path leaves it to Flask (401, cookie cleared)."""
    answers = []
    for enabled in (True, False):
        client, headers = _client(app, world, "carol")
        cookie = client.get_cookie("portail")
        assert client.post("/logout", data={"csrf_token": headers["X-CSRF-Token"]}).status_code == 302
        client.set_cookie("portail", cookie.value)  # the old cookie, replayed
        _fast(app).enabled = enabled
        _key, csr = good_csr("ec-p256")
        answers.append(_answer(client.post(URL, json={"csr": csr.decode()}, headers=headers)))
        _fast(app).enabled = True
    assert answers[0] == answers[1] and answers[0][0] == 401


def test_a_session_to_touch_goes_to_flask_and_is_touched(app, world, runtime, clock):
    client, headers = _client(app, world, "carol")
    clock.advance(timedelta(minutes=2))  # past TOUCH_EVERY: the writing pass records the visit
    answered = _fast(app).answered
    _key, csr = good_csr("ec-p256")
    assert client.post(URL, json={"csr": csr.decode()}, headers=headers).status_code == 201
    assert _fast(app).answered == answered
    _key, csr = good_csr("ec-p256")
    assert client.post(URL, json={"csr": csr.decode()}, headers=headers).status_code == 201
    assert _fast(app).answered == answered + 1


def test_the_csrf_check_agrees_with_flask_wtf(app):
    """check_csrf_header's verdicts are validate_csrf's, for the tokens of this session and others."""
    app.config["WTF_CSRF_TIME_LIMIT"] = 60
    with app.test_request_context("/"):
        from flask import session

        good = generate_csrf()
        session_copy = dict(session)
    with app.test_request_context("/"):
        foreign = generate_csrf()
    import time
    from unittest import mock

    later = time.time() + 120
    tokens = {"good": good, "foreign": foreign, "tampered": _tampered(good),
              "empty": "", "missing": None, "garbage": "not.a.token"}
    for name, token in tokens.items():
        for when in (None, later):
            verdicts = []
            for check in ("ours", "flask-wtf"):
                with app.test_request_context("/"), mock.patch("time.time", return_value=when or time.time()):
                    from flask import session

                    session.update(session_copy)
                    try:
                        if check == "ours":
                            check_csrf_header(app, session, token)
                        else:
                            validate_csrf(token)
                        verdicts.append(True)
                    except (ValidationError, CSRFError):
                        verdicts.append(False)
            assert verdicts[0] == verdicts[1], (name, when)
            assert verdicts[0] == (name == "good" and when is None), (name, when)


def test_a_flask_path_it_does_not_mirror_turns_it_off(settings, runtime, world):
    """A hook it does not know of (here a rate limit on the view) and Flask answers every upload."""
    from webapp.app import create_app

    app = create_app(settings, runtime=runtime)
    limiter = app.extensions["portail.limiter"]
    app.view_functions["api.new_request"] = limiter.limit("1000 per minute")(app.view_functions["api.new_request"])
    client, headers = _client(app, world, "carol")
    _key, csr = good_csr("ec-p256")
    assert client.post(URL, json={"csr": csr.decode()}, headers=headers).status_code == 201
    assert not _fast(app).active() and _fast(app).answered == 0
