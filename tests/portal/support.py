"""Helpers of the portal tests: a populated ledger (two companies, every role), logged-in clients, CSRF."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from flask.testing import FlaskClient

from ca.actor import cli_operator
from ca.ledger import portal_store
from ca.runtime import Runtime
from enrollment.accounts import companies
from enrollment.accounts import users as accounts
from enrollment.accounts.passwords import hash_password
from enrollment.accounts.sessions import actor_for
from enrollment.groups.groups import create_group
from enrollment.groups.services import add_connection_point, seed_services
from tests.conftest import EIC, OTHER_EIC

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@functools.cache
def password_hash(password: str) -> str:
    """One argon2 hash per password for the whole run: the world's accounts are built in milliseconds."""
    return hash_password(password)


def set_password(runtime: Runtime, email: str, password: str = PASSWORD) -> None:
    with runtime.sessionmaker.begin() as session:
        user = portal_store.find_user_by_email(session, email)
        assert user is not None
        portal_store.mark_user(session, user, password_hash=password_hash(password))


def actor_of(runtime: Runtime, email: str, source_ip: str = "127.0.0.1"):
    with runtime.sessionmaker() as session:
        user = portal_store.find_user_by_email(session, email)
        assert user is not None
        return actor_for(user, source_ip)


def user_id(runtime: Runtime, email: str) -> int:
    with runtime.sessionmaker() as session:
        user = portal_store.find_user_by_email(session, email)
        assert user is not None
        return user.id


def csrf_token(client: FlaskClient) -> str:
    page = client.get("/login").get_data(as_text=True)
    match = _CSRF.search(page)
    assert match, "no CSRF token on the login page"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD, *, expect: int = 302):
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)})
    assert response.status_code == expect, response.get_data(as_text=True)[:500]
    return response


def post(client: FlaskClient, url: str, data: dict | None = None, **kwargs):
    """A form POST with the session's CSRF token, as the portal's own pages send it."""
    payload = dict(data or {})
    payload.setdefault("csrf_token", csrf_token(client))
    return client.post(url, data=payload, **kwargs)


@dataclass
class World:
    """Company A (EIC) with alice (first-admin), bob (admin), carol and dave (users); company B (OTHER_EIC)
    with erin (first-admin) and frank (user); oscar (operator); nina (no company)."""

    runtime: Runtime
    emails: dict[str, str] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    points: dict[str, int] = field(default_factory=dict)

    def id(self, name: str) -> int:
        return user_id(self.runtime, self.emails[name])

    def actor(self, name: str):
        return actor_of(self.runtime, self.emails[name])


PEOPLE = {
    "alice": ("alice@example.com", "Alice Martin", EIC, "first-admin"),
    "bob": ("bob@example.com", "Bob Durand", EIC, "admin"),
    "carol": ("carol@example.com", "Carol Petit", EIC, "user"),
    "dave": ("dave@example.com", "Dave Leroy", EIC, "user"),
    "erin": ("erin@other.example", "Erin Moreau", OTHER_EIC, "first-admin"),
    "frank": ("frank@other.example", "Frank Simon", OTHER_EIC, "user"),
    "oscar": ("oscar@ca.example", "Oscar Operator", None, "operator"),
}


def build_world(runtime: Runtime) -> World:
    operator = cli_operator("pytest")
    seed_services(runtime, operator)
    companies.create_company(runtime, operator, eic=OTHER_EIC, name="Other Grid")
    world = World(runtime=runtime)
    for name, (email, full_name, eic, role) in PEOPLE.items():
        if name != "alice":
            accounts.create_user(runtime, operator, email=email, full_name=full_name, company_eic=eic, role=role)
        set_password(runtime, email)
        world.emails[name] = email
    world.emails["nina"] = "nina@nowhere.example"
    # nina: signed up without a company (active, no company)
    with runtime.sessionmaker.begin() as session:
        from ca.ledger import store

        user = store.add_user(session, email="nina@nowhere.example", full_name="Nina Solo", role="user",
                              company_id=None, status="active", at=runtime.clock.now())
        portal_store.mark_user(session, user, password_hash=password_hash(PASSWORD))
    for eic, code in ((EIC, "PDL-A-001"), (EIC, "PDL-A-002"), (OTHER_EIC, "PDL-B-001")):
        world.points[code] = add_connection_point(runtime, operator, company_eic=eic, code=code,
                                                  label=f"Point {code}").id
    world.groups["A"] = create_group(runtime, world.actor("alice"), name="Traders").id
    world.groups["B"] = create_group(runtime, world.actor("erin"), name="Operators").id
    return world
