"""Two refresh rules, written once, for everything with a validity window.

- Signed status (CRLs, OCSP answers) is refreshed at half of its validity: a relying party that cached it
  keeps a fresh copy well before nextUpdate (RFC 5019 §2.2; BR §4.9.7 and §4.9.10 publish ahead of expiry).
- Short-lived certificates the CA renews for itself (OCSP responders, the front office's server certificate)
  are renewed once two thirds of their life have passed, so nothing is ever signed by an expiring key.
"""

from __future__ import annotations

from datetime import datetime


def half_life(this_update: datetime, next_update: datetime) -> datetime:
    """The instant half-way through [this_update, next_update]."""
    return this_update + (next_update - this_update) / 2


def past_half_life(this_update: datetime, next_update: datetime, now: datetime) -> bool:
    return now >= half_life(this_update, next_update)


def needs_refresh(this_update: datetime, next_update: datetime, now: datetime) -> bool:
    """Past half-life, or not yet valid: a thisUpdate after `now` means the wall clock was stepped back since
    signing (issue 10 item 6), and a relying party on that clock would reject it (RFC 5280 §6.3.3,
    RFC 6960 §3.2 item 5), so it is replaced at once instead of when the clock has caught up."""
    return now < this_update or past_half_life(this_update, next_update, now)


def renewal_due(not_before: datetime, not_after: datetime, now: datetime) -> bool:
    """True once less than a third of [not_before, not_after] is left (two thirds of the life passed), or
    while the certificate is not yet valid (the wall clock was stepped back since it was issued)."""
    return now < not_before or not_after - now < (not_after - not_before) / 3
