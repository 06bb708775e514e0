"""Store function of the person's portal language (issue 15 item 1): `session` first, never commit (DESIGN §3)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ca.ledger.models import User


def mark_user_locale(session: Session, user: User, locale: str | None) -> None:
    user.locale = locale
    session.flush()
