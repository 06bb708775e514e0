"""The ledger side of access tokens: recorded when issued, checked on every API call, revoked (RFC 7009)
and introspected (RFC 7662).

The JWT's signature says who issued it; this ledger says whether it still holds: a revoked token, a token
of a revoked client, or a certificate-bound token presented without its certificate (RFC 8705 §3) is
refused at once, whatever its `exp`. Every refusal is audited (ASVS V16), with the reason.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from ca.actor import Actor
from ca.errors import UnauthenticatedError
from ca.ledger import api_client_store, store
from ca.ledger.api_client_models import AccessTokenRecord
from ca.ledger.audit import append_event
from ca.runtime import Runtime
from ca.vocabulary import ActorKind, Role
from enrollment.api_clients.credentials import company_certificate_live, x5t_s256
from enrollment.api_clients.views import ApiClientView, ClientPrincipal, client_view

security_log = logging.getLogger("portail.security")


def client_actor(client: ApiClientView, source_ip: str | None) -> Actor:
    """An API client acts in its company with an administrator's reach, narrowed by its token's scopes."""
    return Actor(kind=ActorKind.USER, name=f"api-client:{client.client_id}", company_id=client.company_id,
                 role=Role.ADMIN, source_ip=source_ip)


def record_access_token(runtime: Runtime, client: ApiClientView, *, jti: str, scope: str, issued_at: datetime,
                        expires_at: datetime, cnf_x5t_s256: str | None, auth_method: str,
                        source_ip: str | None) -> None:
    """Before the token leaves the server: its row and its audit event, in one transaction."""
    with runtime.sessionmaker.begin() as session:
        row = api_client_store.find_api_client(session, client.client_id)
        if row is None:
            raise UnauthenticatedError("unknown client")
        api_client_store.add_access_token(session, AccessTokenRecord(
            jti=jti, client_pk=row.id, scope=scope, issued_at=issued_at, expires_at=expires_at,
            cnf_x5t_s256=cnf_x5t_s256))
        append_event(session, at=runtime.clock.now(), actor=client_actor(client, source_ip).name,
                     action="oauth.token_issued", object_type="access_token", object_id=jti,
                     company_id=client.company_id,
                     details={"scope": scope, "expires_at": expires_at.isoformat(), "auth_method": auth_method,
                              "cnf_x5t_s256": cnf_x5t_s256}, source_ip=source_ip)


def audit_refusal(runtime: Runtime, *, action: str, object_id: str, reason: str, source_ip: str | None,
                  company_id: int | None = None) -> None:
    with runtime.sessionmaker.begin() as session:
        append_event(session, at=runtime.clock.now(), actor="anonymous", action=action, object_type="access_token"
                     if action == "oauth.token_refused" else "api_client", object_id=object_id[:128],
                     company_id=company_id, details={"reason": reason}, source_ip=source_ip)
    security_log.warning("%s %s from %s: %s", action, object_id[:128], source_ip, reason)


@dataclass(frozen=True)
class TokenState:
    record: AccessTokenRecord
    client: ApiClientView
    company_name: str


def _state(runtime: Runtime, jti: str) -> TokenState | None:
    with runtime.sessionmaker() as session:
        record = api_client_store.get_access_token(session, jti)
        if record is None:
            return None
        row = session.get(api_client_store.ApiClient, record.client_pk)
        assert row is not None
        company = store.get_company(session, row.company_id)
        session.expunge(record)
        return TokenState(record=record, client=client_view(row, company.eic), company_name=company.name)


def _refusal(state: TokenState | None, client_id: str, presented_x5t: str | None, now: datetime) -> str | None:
    if state is None:
        return "unknown token"
    record, client = state.record, state.client
    if client.client_id != client_id:
        return "the token's client_id does not match the ledger"
    if record.revoked_at is not None:
        return "the token was revoked"
    if not client.active:
        return "the client was revoked"
    if record.expires_at <= now:
        return "the token has expired"
    if record.cnf_x5t_s256 is not None and (
            presented_x5t is None or not secrets.compare_digest(record.cnf_x5t_s256, presented_x5t)):
        return "the token is bound to a certificate not presented on this connection (RFC 8705 section 3)"
    return None


def check_access_token(runtime: Runtime, *, jti: str, client_id: str, presented_certificate: bytes | None,
                       source_ip: str | None) -> ClientPrincipal:
    """The principal of a token whose signature and claims were verified; UnauthenticatedError otherwise.

    A bound token also needs its certificate to be still live in the ledger: revoking the certificate ends
    the token at once, as it ends the person's access at the gate."""
    state = _state(runtime, jti)
    presented_x5t = x5t_s256(presented_certificate) if presented_certificate else None
    reason = _refusal(state, client_id, presented_x5t, runtime.clock.now())
    if (reason is None and state is not None and state.record.cnf_x5t_s256 is not None
            and presented_certificate is not None
            and not company_certificate_live(runtime, presented_certificate, None)):
        reason = "the certificate the token is bound to is revoked or no longer valid"
    if reason is not None or state is None:
        audit_refusal(runtime, action="oauth.token_refused", object_id=jti, reason=reason or "unknown token",
                      source_ip=source_ip, company_id=state.client.company_id if state else None)
        raise UnauthenticatedError(reason or "unknown token")
    return ClientPrincipal(actor=client_actor(state.client, source_ip), client=state.client,
                           company_name=state.company_name, scopes=tuple(state.record.scope.split()), jti=jti,
                           bound_to=state.record.cnf_x5t_s256)


def token_state(runtime: Runtime, jti: str) -> TokenState | None:
    return _state(runtime, jti)


def token_active(runtime: Runtime, state: TokenState) -> bool:
    """RFC 7662 §2.2 `active`: not revoked, not expired, its client not revoked."""
    return state.record.revoked_at is None and state.client.active and state.record.expires_at > runtime.clock.now()


def revoke_access_token(runtime: Runtime, client: ApiClientView, jti: str, *, source_ip: str | None) -> bool:
    """RFC 7009 §2.1: a client revokes its own token; a token it does not hold is left alone."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        record = api_client_store.get_access_token(session, jti)
        row = api_client_store.find_api_client(session, client.client_id)
        if record is None or row is None or record.client_pk != row.id:
            return False
        changed = api_client_store.mark_access_token_revoked(session, jti, now)
        if changed:
            append_event(session, at=now, actor=client_actor(client, source_ip).name, action="oauth.token_revoked",
                         object_type="access_token", object_id=jti, company_id=client.company_id,
                         source_ip=source_ip)
        return changed
