"""Registering, listing and revoking a company's API applications (issue 12 item 1).

A company administrator acts for their own company; an operator names it (`ca.scope.one_company`).
Registering, like revoking, is one transaction with its audit event (DESIGN §3). Revoking a client
revokes every token it holds in the same transaction, so the API refuses them at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import Actor
from ca.errors import BadRequestError, ConflictError
from ca.ledger import api_client_store, store
from ca.ledger.api_client_models import ApiClient
from ca.ledger.audit import append_event
from ca.runtime import Runtime
from ca.scope import company_scope, one_company
from enrollment.api_clients.credentials import load_certificate, new_client_secret
from enrollment.api_clients.scopes import parse_scopes
from enrollment.api_clients.views import CLIENT_SECRET, TLS_CLIENT_AUTH, ApiClientView, Registration, client_view

MAX_NAME = 64


@dataclass(frozen=True)
class TlsBinding:
    """Which certificate authenticates a `tls_client_auth` client: exactly one of the three (RFC 8705 §2.1.2)."""

    subject_dn: str | None = None
    san_dns: str | None = None
    certificate: bytes | None = None  # PEM or DER of the pinned certificate

    def columns(self) -> dict[str, str | None]:
        given = [v for v in (self.subject_dn, self.san_dns, self.certificate) if v]
        if len(given) != 1:
            raise BadRequestError("tls_client_auth needs exactly one of: a subject DN, a SAN DNS name, "
                                  "or a pinned certificate")
        if self.certificate:
            der = load_certificate(self.certificate).public_bytes(Encoding.DER)
            return {"tls_cert_sha256": hashlib.sha256(der).hexdigest()}
        if self.subject_dn:
            try:
                name = x509.Name.from_rfc4514_string(self.subject_dn.strip())
            except ValueError:
                raise BadRequestError(f"the subject DN {self.subject_dn.strip()[:80]!r} is not an RFC 4514 name "
                                      "(for example CN=robot,O=Company,C=FR)") from None
            return {"tls_subject_dn": name.rfc4514_string()}
        dns = (self.san_dns or "").strip().lower()
        if not dns or len(dns) > 253 or any(c.isspace() for c in dns):
            raise BadRequestError("the SAN DNS name is not a host name")
        return {"tls_san_dns": dns}


def _check_name(name: str) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise BadRequestError("the application needs a name")
    if len(name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise BadRequestError(f"the name must be at most {MAX_NAME} printable characters")
    return name


def create_api_client(runtime: Runtime, actor: Actor, *, company_eic: str | None, name: str, scope: str,
                      tls: TlsBinding | None = None) -> Registration:
    """Register an application; a secret client gets its secret here, once (only its hash is kept)."""
    name = _check_name(name)
    scopes = parse_scopes(scope)
    tls_columns = tls.columns() if tls is not None else {}
    secret, secret_hash = (None, None) if tls is not None else new_client_secret()
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        company_id = one_company(session, actor, company_eic)
        company = store.get_company(session, company_id)
        if any(c.name == name and c.revoked_at is None for c in api_client_store.list_api_clients(session, company_id)):
            raise ConflictError(f"the company already has an application named {name!r}")
        row = api_client_store.add_api_client(session, ApiClient(
            client_id="pki-" + secrets.token_urlsafe(16), company_id=company_id, name=name,
            scopes=" ".join(scopes), auth_method=TLS_CLIENT_AUTH if tls is not None else CLIENT_SECRET,
            secret_hash=secret_hash, created_at=now, created_by=actor.name, **tls_columns))
        append_event(session, at=now, actor=actor.name, action="api_client.registered", object_type="api_client",
                     object_id=row.client_id, company_id=company_id,
                     details={"name": name, "scopes": list(scopes), "auth_method": row.auth_method, **tls_columns},
                     source_ip=actor.source_ip)
        return Registration(client=client_view(row, company.eic), client_secret=secret)


def list_api_clients(runtime: Runtime, actor: Actor, *, company_eic: str | None = None) -> list[ApiClientView]:
    with runtime.sessionmaker() as session:
        company_id = company_scope(session, actor, company_eic)
        eics = {c.id: c.eic for c in store.list_companies(session)}
        return [client_view(r, eics[r.company_id]) for r in api_client_store.list_api_clients(session, company_id)]


def revoke_api_client(runtime: Runtime, actor: Actor, *, client_id: str,
                      company_eic: str | None = None) -> ApiClientView:
    """The client can no longer get tokens, and every token it holds is refused from this commit on."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        company_id = company_scope(session, actor, company_eic)
        row = api_client_store.get_api_client(session, client_id, company_id)
        if row.revoked_at is not None:
            raise ConflictError(f"the API client {client_id!r} is already revoked")
        row.revoked_at = now
        tokens = api_client_store.mark_client_tokens_revoked(session, row.id, now)
        append_event(session, at=now, actor=actor.name, action="api_client.revoked", object_type="api_client",
                     object_id=client_id, company_id=row.company_id, details={"tokens_revoked": tokens},
                     source_ip=actor.source_ip)
        return client_view(row, store.get_company(session, row.company_id).eic)


def find_client(runtime: Runtime, client_id: str) -> ApiClientView | None:
    """The token endpoint's look-up (Authlib `query_client`): a revoked client is no client."""
    if not isinstance(client_id, str) or len(client_id) > 64:
        return None
    with runtime.sessionmaker() as session:
        row = api_client_store.find_api_client(session, client_id)
        if row is None or row.revoked_at is not None:
            return None
        return client_view(row, store.get_company(session, row.company_id).eic)
