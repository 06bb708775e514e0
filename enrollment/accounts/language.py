"""A person saves the portal language they read (issue 15 item 1): it then wins over their browser's.

Only one's own account, and only a supported language (ca.locales); the change is audited like every other
change to an account, though it grants nothing.
"""

from __future__ import annotations

from ca.actor import Actor
from ca.errors import UnauthenticatedError
from ca.ledger import locale_store, portal_store
from ca.ledger.audit import append_event
from ca.locales import check_locale
from ca.runtime import Runtime


def save_locale(runtime: Runtime, actor: Actor, locale: str) -> None:
    """Store `locale` as the actor's own language; BadRequestError (nothing changed) when unsupported."""
    check_locale(locale)
    if actor.user_id is None:
        raise UnauthenticatedError("log in first")
    with runtime.sessionmaker.begin() as session:
        user = portal_store.get_user(session, actor.user_id)
        if user.locale == locale:
            return
        previous = user.locale
        locale_store.mark_user_locale(session, user, locale)
        append_event(session, at=runtime.clock.now(), actor=actor.name, action="user.locale_changed",
                     object_type="user", object_id=user.email, company_id=actor.company_id,
                     details={"from": previous, "to": locale}, source_ip=actor.source_ip)
