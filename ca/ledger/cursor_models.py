"""Durable positions of background jobs that walk a table in id order (issue 14 item 1: the after-the-fact
lint of every issued certificate). A job commits its position in the same transaction as what it recorded
for the rows it passed, so a restart resumes exactly there: no row is skipped, none is recorded twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ca.ledger.models import Base, UTCDateTime


class BackgroundCursor(Base):
    __tablename__ = "background_cursors"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "certificate-lint"
    position: Mapped[int] = mapped_column(Integer)  # the highest row id done (every lower one is done too)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
