"""The authorization matrix (issue 4 acceptance; ASVS 5.0 8.2.2 object level, 8.4.1 cross-tenant).

Every route of the app (url_map) has an entry here; a new route without one fails the test. Each route is
called as every role (anonymous, user, administrator, first administrator, administrator of another
company, operator, person without a company) on every object it takes: carol's (a user of company A),
dave's (her colleague) and frank's (a user of company B). Expected allows come from the rules below;
any other answer must be a refusal (302 to /login, 401, 403 or 404) that changed nothing in the ledger.
Allowed GETs must succeed; allowed POSTs are exercised by the functional tests (they change state).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import url_for
from sqlalchemy import select

from ca import issuance
from ca.ledger.models import Base
from enrollment.api_clients.registration import create_api_client
from enrollment.requests.approval import decide_request, request_certificate, set_approval_policy
from enrollment.requests.keygen import request_generated_certificate
from tests.conftest import EIC, OTHER_EIC
from tests.portal.support import csrf_token, login
from tests.vectors.bad_csrs import good_csr

ROLES = {"anonymous": None, "user": "carol", "admin": "bob", "first-admin": "alice", "other-admin": "erin",
         "operator": "oscar", "no-company": "nina"}
ROLE_COMPANY = {"user": "A", "admin": "A", "first-admin": "A", "other-admin": "B"}
OBJECT_COMPANY = {"own": "A", "colleague": "A", "other": "B"}
Rule = Callable[[str, str], bool]


def public(role: str, obj: str) -> bool:
    return True


def logged_in(role: str, obj: str) -> bool:
    return role != "anonymous"


def member(role: str, obj: str) -> bool:
    return role in ROLE_COMPANY


def admin(role: str, obj: str) -> bool:
    return role in ("admin", "first-admin", "other-admin")


def first_admin(role: str, obj: str) -> bool:
    return role in ("first-admin", "other-admin")


def operator(role: str, obj: str) -> bool:
    return role == "operator"


def nobody(role: str, obj: str) -> bool:
    return False


def admin_of_object(role: str, obj: str) -> bool:
    return admin(role, obj) and ROLE_COMPANY[role] == OBJECT_COMPANY[obj]


def certificate_visible(role: str, obj: str) -> bool:
    return operator(role, obj) or admin_of_object(role, obj) or (role == "user" and obj == "own")


def request_owner(role: str, obj: str) -> bool:
    return role == "user" and obj == "own"


@dataclass(frozen=True)
class Entry:
    rule: Rule
    objects: tuple[str, ...] = ("-",)


PEOPLE_OBJECTS = ("own", "colleague", "other")
COMPANY_OBJECTS = ("own", "other")
MATRIX: dict[str, Entry] = {
    "static": Entry(public),
    "public.index": Entry(public),
    "public.login_form": Entry(public),
    "public.login": Entry(public),
    "public.logout": Entry(public),
    "public.signup_form": Entry(public),
    "public.signup": Entry(public),
    "public.activate_form": Entry(nobody),  # an unknown link is refused whoever asks
    "public.activate": Entry(nobody),
    "public.password_reset_form": Entry(public),
    "public.password_reset": Entry(public),
    "i18n.switch": Entry(public),  # anyone chooses their language; a person saves only their own
    "account.home": Entry(logged_in),
    "account.certificates": Entry(logged_in),
    "browser_keys.after_download": Entry(logged_in),
    "account.new_certificate": Entry(member),
    "account.generate": Entry(member),
    "account.upload": Entry(member),
    "account.certificate": Entry(certificate_visible, PEOPLE_OBJECTS),
    "account.download": Entry(certificate_visible, PEOPLE_OBJECTS),
    "account.revoke_form": Entry(certificate_visible, PEOPLE_OBJECTS),
    "account.revoke": Entry(certificate_visible, PEOPLE_OBJECTS),
    "account.renew_form": Entry(request_owner, PEOPLE_OBJECTS),  # the holder only (issue 11)
    "account.renew_generate": Entry(request_owner, PEOPLE_OBJECTS),
    "account.renew_upload": Entry(request_owner, PEOPLE_OBJECTS),
    "account.requests": Entry(logged_in),
    "account.collect": Entry(request_owner, PEOPLE_OBJECTS),
    "account.profile": Entry(logged_in),
    "account.password": Entry(logged_in),
    "account.join_company": Entry(logged_in),
    "admin.users": Entry(admin),
    "admin.dashboard": Entry(admin),
    "admin.invite": Entry(admin),
    "admin.resend": Entry(admin_of_object, PEOPLE_OBJECTS),
    "admin.approve_member": Entry(admin_of_object, PEOPLE_OBJECTS),
    "admin.refuse_member": Entry(admin_of_object, PEOPLE_OBJECTS),
    "admin.detach_form": Entry(admin_of_object, PEOPLE_OBJECTS),
    "admin.detach": Entry(admin_of_object, PEOPLE_OBJECTS),
    "admin.groups": Entry(admin),
    "admin.new_group": Entry(admin),
    "admin.group": Entry(admin_of_object, COMPANY_OBJECTS),
    "admin.edit_group": Entry(admin_of_object, COMPANY_OBJECTS),
    "admin.remove_group": Entry(admin_of_object, COMPANY_OBJECTS),
    "admin.requests": Entry(admin),
    "admin.approve_request": Entry(admin_of_object, PEOPLE_OBJECTS),
    "admin.reject_request": Entry(admin_of_object, PEOPLE_OBJECTS),
    "admin.certificates": Entry(admin),
    "admin.certificates_csv": Entry(admin),
    "admin.unused_form": Entry(admin),
    "admin.unused": Entry(admin),
    "admin.audit": Entry(admin),
    "admin.acme": Entry(admin),
    "admin.acme_eab": Entry(admin),
    "admin.company": Entry(first_admin),
    "admin.company_policy": Entry(first_admin),
    "operator.companies": Entry(operator),
    "operator.new_company": Entry(operator),
    "operator.company": Entry(operator, COMPANY_OBJECTS),
    "operator.new_administrator": Entry(operator, COMPANY_OBJECTS),
    "operator.replace_first_administrator": Entry(operator, COMPANY_OBJECTS),
    "operator.search": Entry(operator),
    "operator.dashboard": Entry(operator),
    "operator.resend": Entry(operator, COMPANY_OBJECTS),
    "operator.new_point": Entry(operator, COMPANY_OBJECTS),
    "api.openapi": Entry(public),
    "api.me": Entry(logged_in),
    "api.certificates": Entry(logged_in),
    "api.certificate": Entry(certificate_visible, PEOPLE_OBJECTS),
    "api.revoke": Entry(certificate_visible, PEOPLE_OBJECTS),
    "api.renew": Entry(request_owner, PEOPLE_OBJECTS),
    "api.requests": Entry(logged_in),
    "api.new_request": Entry(member),
    "api.company_certificates": Entry(admin),
    "api.company_requests": Entry(admin),
    "api.approve": Entry(admin_of_object, PEOPLE_OBJECTS),
    "api.reject": Entry(admin_of_object, PEOPLE_OBJECTS),
    "api.users": Entry(admin),
    "api.new_user": Entry(admin),
    "api.detach": Entry(admin_of_object, PEOPLE_OBJECTS),
    "api.groups": Entry(admin),
    "api.new_group": Entry(admin),
    "api.group": Entry(admin_of_object, COMPANY_OBJECTS),
    "api.edit_group": Entry(admin_of_object, COMPANY_OBJECTS),
    "api.remove_group": Entry(admin_of_object, COMPANY_OBJECTS),
    # OAuth2 (issue 12): the endpoints authenticate clients by their credentials, never by a session; their
    # refusals are tested in tests/oauth (invalid_client, audited). The pages are the administrators'.
    "oauth.metadata": Entry(public),
    "oauth.jwks": Entry(public),
    "oauth.token": Entry(public),
    "oauth.revoke": Entry(public),
    "oauth.introspect": Entry(public),
    "api_clients.index": Entry(admin),
    "api_clients.create": Entry(admin),
    "api_clients.revoke": Entry(admin_of_object, COMPANY_OBJECTS),
}
# Forms of the pages whose POST would be refused for input reasons before authorization matters get a
# plausible body, so a refusal is an authorization refusal.
BODIES = {"api.revoke": {"reason": "cessationOfOperation"}, "api.reject": {"comment": "no"},
          "api.new_group": {"name": "Intruders"}, "api.edit_group": {"name": "Intruders"},
          "api.new_user": {"email": "intruder@example.com", "full_name": "Intruder"},
          "api.new_request": {"csr": "x"}, "api.approve": {}, "api.renew": {"csr": "x"},
          "account.revoke": {"reason": "cessationOfOperation"}, "admin.reject_request": {"comment": "no"},
          "account.collect": {"password": "a file password", "password_confirmation": "a file password"},
          "admin.edit_group": {"name": "Intruders"}, "admin.new_group": {"name": "Intruders"}}


def fingerprint(runtime) -> str:
    """A digest of every row of every table: any change by a refused request shows."""
    digest = hashlib.sha256()
    with runtime.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).all():
                digest.update(repr((table.name, tuple(row))).encode())
    return digest.hexdigest()


@pytest.fixture
def objects(world, runtime):
    """carol's, dave's and frank's certificate and request; carol's request is an approved key generation."""
    def issue(name: str) -> str:
        _key, csr = good_csr("ec-p256")
        return issuance.issue_certificate(runtime, world.actor(name), csr_data=csr,
                                          user_email=world.emails[name]).serial

    serials = {"own": issue("carol"), "colleague": issue("dave"), "other": issue("frank")}
    set_approval_policy(runtime, world.actor("alice"), policy="manual")
    set_approval_policy(runtime, world.actor("erin"), policy="manual")
    own, _ = request_generated_certificate(runtime, world.actor("carol"), password="")
    decide_request(runtime, world.actor("alice"), request_id=own.id, approve=True)
    requests = {"own": own.id}
    for variant, name in (("colleague", "dave"), ("other", "frank")):
        requests[variant] = request_certificate(runtime, world.actor(name), csr_data=good_csr("ec-p256")[1]).request.id
    people = {"own": world.id("carol"), "colleague": world.id("dave"), "other": world.id("frank")}
    api_clients = {variant: create_api_client(runtime, world.actor(name), company_eic=None, name="Robot",
                                              scope="users:read").client.client_id
                   for variant, name in (("own", "alice"), ("other", "erin"))}
    return {
        "client_id": api_clients,
        "serial": serials, "request_id": requests, "user_id": people,
        "group_id": {"own": world.groups["A"], "other": world.groups["B"]},
        "eic": {"own": EIC, "other": OTHER_EIC},
        "token": {"own": "not-a-real-token", "other": "not-a-real-token", "-": "not-a-real-token"},
        "fmt": {"own": "pem", "colleague": "pem", "other": "pem"},
    }


def _clients(app, world):
    clients = {}
    for role, name in ROLES.items():
        client = app.test_client()
        if name:
            login(client, world.emails[name])
        token = csrf_token(client)
        api_token = client.get("/api/v1/me").get_json() if name else None
        clients[role] = (client, token, (api_token or {}).get("csrf_token"))
    return clients


def _call(client, method: str, url: str, endpoint: str, token: str, api_token: str | None):
    if endpoint.startswith("api."):
        headers = {"X-CSRF-Token": api_token} if api_token else {}
        body = BODIES.get(endpoint, {}) if method in ("POST", "PATCH") else None
        return client.open(url, method=method, json=body, headers=headers)
    data = {"csrf_token": token, **BODIES.get(endpoint, {})} if method == "POST" else None
    return client.open(url, method=method, data=data)


def _refused(response, endpoint: str) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_every_route_has_a_matrix_entry(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(MATRIX) == set(), "new routes need an entry in MATRIX"
    assert set(MATRIX) - endpoints == set(), "MATRIX names routes that do not exist any more"


def test_authorization_matrix(app, world, runtime, objects):
    clients = _clients(app, world)
    unexpected: list[str] = []
    checked = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        entry = MATRIX[rule.endpoint]
        if entry.rule is public or rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for variant in entry.objects:
                values = {arg: objects[arg][variant if variant != "-" else "own"] for arg in rule.arguments}
                with app.test_request_context():
                    url = url_for(rule.endpoint, **values)
                for role, (client, token, api_token) in clients.items():
                    allowed = entry.rule(role, variant)
                    if allowed and method != "GET":
                        continue  # state-changing allows: see the functional tests
                    before = fingerprint(runtime) if not allowed else None
                    response = _call(client, method, url, rule.endpoint, token, api_token)
                    checked += 1
                    cell = f"{method} {url} as {role} on {variant}: {response.status_code}"
                    if allowed:
                        if response.status_code >= 400:
                            unexpected.append("wrongly refused " + cell)
                    elif not _refused(response, rule.endpoint):
                        unexpected.append("UNEXPECTED ALLOW " + cell)
                    elif fingerprint(runtime) != before:
                        unexpected.append("refused but changed the ledger " + cell)
    assert unexpected == [], "\n".join(unexpected)
    assert checked > 500
