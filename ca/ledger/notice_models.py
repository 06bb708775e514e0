"""The ledger of e-mailed notices (issue 11): one row per message that is due, unique by its `key`.

The row is inserted before the message is sent, so the unique key is the claim: a restart, a second
worker or a second `pkictl notify run` finds the row and sends nothing (insert-then-send). A failed send
leaves the row unsent with `next_attempt_at` pushed back; whoever delivers takes a row only by a
conditional UPDATE of `claimed_until`, so a retry too is sent by one process only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ca.ledger.models import Base, UTCDateTime


class Notice(Base):
    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_unsent", "sent_at", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # e.g. "expiry/<certificate id>/30", "escalation/<certificate id>/<admin id>", "digest/<admin id>/2026-W49"
    key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # expiry | escalation | digest | revoked | detached
    threshold: Mapped[int | None] = mapped_column(Integer, nullable=True)  # days before notAfter (expiry)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), nullable=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # the recipient
    company_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
