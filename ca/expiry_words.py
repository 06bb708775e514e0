"""Expiry said plainly ("expires in 12 days"), for the portal's certificate pages and the e-mails (issue 11).

Counted in whole days down from notAfter (RFC 5280 §4.1.2.5: the certificate is valid through notAfter
inclusive), so "expires in 1 day" is always less than 48 hours away and "expires today" less than 24.
"""

from __future__ import annotations

from datetime import datetime


def days_left(not_after: datetime, now: datetime) -> int:
    """Whole days until notAfter (0 within the last 24 hours, negative once expired)."""
    seconds = (not_after - now).total_seconds()
    return int(seconds // 86400)


def expiry_words(not_after: datetime, now: datetime, status: str = "issued") -> str:
    if status == "revoked":
        return "revoked"
    if not_after < now:
        ago = int((now - not_after).total_seconds() // 86400)
        return "expired today" if ago <= 0 else f"expired {ago} day{'s' if ago != 1 else ''} ago"
    left = days_left(not_after, now)
    if left == 0:
        hours = int((not_after - now).total_seconds() // 3600)
        return "expires today" if hours < 1 else f"expires in {hours} hour{'s' if hours != 1 else ''}"
    return f"expires in {left} day{'s' if left != 1 else ''}"
