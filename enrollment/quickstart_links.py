"""How to log in after `pkictl quickstart`: a one-time activation link per demo account that has no password.

Printed on the operator's terminal instead of e-mailed: the quickstart runs on the machine it sets up, and a
first-time user has no mailbox configured yet. Each link is the ordinary activation link (enrollment.accounts
.activation): it works once, expires after `portal.activation_hours`, and a new run retires the older one.
Accounts that already chose a password get no link (nothing to reset behind their back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ca.actor import Actor
from ca.ledger import portal_store
from ca.ledger.audit import append_event
from ca.runtime import Runtime
from enrollment.accounts.activation import link_url, new_link


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    url: str | None  # None: the account already has a password
    expires_at: datetime | None


def demo_login_links(runtime: Runtime, actor: Actor, emails: list[str]) -> list[DemoLogin]:
    """A fresh activation link for each listed account still without a password (audited, operator only)."""
    actor.require_operator()
    now = runtime.clock.now()
    logins: list[DemoLogin] = []
    with runtime.sessionmaker.begin() as session:
        for email in emails:
            user = portal_store.find_user_by_email(session, email)
            if user is None:
                continue
            if user.password_hash is not None:
                logins.append(DemoLogin(email=user.email, role=user.role, url=None, expires_at=None))
                continue
            token, expires_at = new_link(session, runtime, user, "activate")
            append_event(session, at=now, actor=actor.name, action="user.activation_link_printed",
                         object_type="user", object_id=user.email, company_id=user.company_id,
                         details={"by": "quickstart"}, source_ip=actor.source_ip)
            logins.append(DemoLogin(email=user.email, role=user.role, url=link_url(runtime, token),
                                    expires_at=expires_at))
    return logins
