"""Replay-Nonce (RFC 8555 §6.5): random, single use, kept in the ledger so every worker honours them."""

from __future__ import annotations

import secrets
from datetime import timedelta

from ca.ledger import Session, acme_store
from ca.runtime import Runtime
from enrollment.acme_server.errors import AcmeError


def new_nonce(runtime: Runtime) -> str:
    """A fresh nonce; expired ones are dropped on the way so the table stays bounded by the nonce lifetime."""
    value = secrets.token_urlsafe(16)
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        acme_store.delete_expired_nonces(session, now)
        acme_store.add_nonce(session, value, now + timedelta(minutes=runtime.settings.acme.nonce_minutes))
    return value


def use_nonce(session: Session, runtime: Runtime, value: str) -> None:
    """RFC 8555 §6.5.2: a nonce the server did not issue, or already used, is `badNonce`."""
    if not acme_store.take_nonce(session, value, runtime.clock.now()):
        raise AcmeError("badNonce", "the nonce is unknown, expired or already used; retry with a fresh one")
