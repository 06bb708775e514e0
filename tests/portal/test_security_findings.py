"""Issue 13 on the HTML portal: the open redirect after login (finding 2) and the HTTP 500s (finding 5)."""

from __future__ import annotations

import pytest

from tests.portal.support import PASSWORD, csrf_token, login
from tests.support.ledger import snapshot

HOME = "/home"


def _login_with_next(client, world, target: str):
    return client.post("/login", data={"email": world.emails["carol"], "password": PASSWORD, "next": target,
                                       "csrf_token": csrf_token(client)})


@pytest.mark.parametrize("target", [
    "//x", "/\\x", "/%09/x", "/%0a/x", "https://x", "%2F%2Fx", "javascript:alert(1)", "/%5Cx",
    "/%2F/x", "/%252F%252Fx", "\\\\x", "http:/x", "/\\/x", "%2f%2fevil.example", "", "x",
])
def test_login_never_redirects_off_site(client, world, target):
    response = _login_with_next(client, world, target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert location == HOME or location == target and target.startswith("/"), location
    assert "x" not in location.removeprefix(HOME)


@pytest.mark.parametrize("target", ["/certificates", "/requests?state=pending", "/admin/groups/3"])
def test_login_keeps_a_path_of_this_site(client, world, target):
    assert _login_with_next(client, world, target).headers["Location"] == target


@pytest.mark.parametrize("target", ["/\nLocation: //evil.example", "/\r\n/x", "/a\x00b", "/\t/x",
                                    "/\u202e/x"])
def test_a_control_character_in_next_is_a_400_and_nobody_is_logged_in(client, world, runtime, target):
    before = snapshot(runtime)
    response = _login_with_next(client, world, target)
    assert response.status_code == 400 and "return to" in response.get_data(as_text=True)
    assert snapshot(runtime) == before
    assert client.get("/home").status_code == 302  # still anonymous


@pytest.mark.parametrize("days", ["100000000", "10" + "0" * 30, "-5", "0", "1e9", "nan"])
def test_unused_days_out_of_range_is_a_400(client, world, days):
    login(client, world.emails["alice"])
    response = client.get(f"/admin/unused?days={days}")
    assert response.status_code == 400, response.status_code
    assert "days" in response.get_data(as_text=True)


@pytest.mark.parametrize("name", ["expiring_days", "unused_days"])
@pytest.mark.parametrize("days", ["100000000", "1" + "0" * 30, "-100000000"])
def test_certificate_filters_out_of_range_are_a_400(client, world, name, days):
    login(client, world.emails["alice"])
    response = client.get(f"/admin/certificates?{name}={days}")
    assert response.status_code == 400, response.status_code


@pytest.mark.parametrize("days", ["100000000", "1" + "0" * 30])
def test_unused_revocation_days_out_of_range_is_a_400(client, world, runtime, days):
    from tests.portal.support import post

    login(client, world.emails["alice"])
    before = snapshot(runtime)
    response = post(client, "/admin/unused", {"days": days, "serial": "01"})
    assert response.status_code == 400, response.status_code
    assert snapshot(runtime) == before


def _browser_reading(location: str) -> str:
    """How a browser reads a Location: tabs and newlines dropped, backslashes as slashes."""
    return location.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/").strip()


def test_any_next_value_stays_on_this_site(app):
    from urllib.parse import unquote

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from ca.errors import BadRequestError
    from webapp.portal.public import _safe_next

    pieces = st.sampled_from(["/", "//", "\\", "%2F", "%2f", "%5C", "%09", "%0a", "%25", "\t", "\n", ":", "x",
                              "evil.example", "http", "javascript", "@", "?", "#", " ", "%20", ".", ".."])
    targets = st.one_of(st.text(max_size=40), st.lists(pieces, max_size=10).map("".join))

    @given(target=targets)
    @settings(max_examples=500, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(target):
        with app.test_request_context("/login"):
            try:
                location = _safe_next(target)
            except BadRequestError:
                return
        for form in (location, unquote(location), unquote(unquote(location))):
            seen = _browser_reading(form)
            assert seen.startswith("/") and not seen.startswith("//"), (target, location)

    check()
