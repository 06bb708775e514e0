"""External Account Binding (RFC 8555 §7.3.4): the credentials a company administrator (or an operator)
creates, and the check that binds a new ACME account to their company."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import josepy as jose

from ca.actor import Actor
from ca.ledger import Session, acme_store, store
from ca.ledger.acme_models import AcmeEabKey
from ca.ledger.audit import append_event
from ca.runtime import Runtime
from ca.scope import one_company
from enrollment.acme_server.errors import AcmeError, malformed, unauthorized
from enrollment.acme_server.jws import DECODE_ERRORS

_HMAC_ALGORITHMS = {"HS256": jose.HS256, "HS384": jose.HS384, "HS512": jose.HS512}


@dataclass(frozen=True)
class EabCredentials:
    kid: str
    hmac_key: str  # base64url, no padding: what certbot's --eab-hmac-key and lego's --hmac take
    company_eic: str


def create_eab(runtime: Runtime, actor: Actor, *, company_eic: str | None = None) -> EabCredentials:
    """The key is shown once here; the audit event names the kid only."""
    kid = "kid-" + secrets.token_urlsafe(12)
    key = secrets.token_bytes(32)
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        company_id = one_company(session, actor, company_eic)
        company = store.get_company(session, company_id)
        acme_store.add_eab_key(session, kid=kid, hmac_key=key, company_id=company_id, at=now, created_by=actor.name)
        append_event(session, at=now, actor=actor.name, action="acme.eab.created", object_type="acme_eab",
                     object_id=kid, company_id=company_id, details={}, source_ip=actor.source_ip)
        eic = company.eic
    return EabCredentials(kid=kid, hmac_key=jose.b64encode(key).decode("ascii"), company_eic=eic)


def as_jwk(value: object) -> jose.JWK:
    if not isinstance(value, dict):
        raise TypeError("not a JWK object")
    key = jose.JWK.from_json(value)
    assert isinstance(key, jose.JWK)
    return key


def verify_eab(session: Session, binding: object, account_key: jose.JWK, new_account_url: str) -> AcmeEabKey:
    """§7.3.4: a JWS by the EAB key (HS*), `kid` known, `url` the newAccount URL, payload the account key."""
    if binding is None:
        raise AcmeError("externalAccountRequired",
                        "this server requires External Account Binding: ask your company administrator for "
                        "EAB credentials (kid and HMAC key)")
    if not isinstance(binding, dict):
        raise malformed("externalAccountBinding must be a flattened JWS object")
    try:
        header = json.loads(jose.b64decode(binding["protected"]))
        inner = jose.JWS.from_json(binding)
    except DECODE_ERRORS:
        raise malformed("externalAccountBinding is not a readable JWS") from None
    if not isinstance(header, dict) or header.get("alg") not in _HMAC_ALGORITHMS:
        raise malformed("externalAccountBinding must be signed with HS256, HS384 or HS512")
    if "nonce" in header:
        raise malformed("externalAccountBinding must not carry a nonce (RFC 8555 §7.3.4)")
    if header.get("url") != new_account_url:
        raise malformed("externalAccountBinding url must be the newAccount URL")
    record = acme_store.find_eab_key(session, str(header.get("kid", "")))
    if record is None:
        raise unauthorized("unknown External Account Binding kid")
    try:
        bound_key = as_jwk(json.loads(inner.payload))
    except DECODE_ERRORS:
        raise malformed("externalAccountBinding payload is not a JWK") from None
    if bound_key.public_key() != account_key.public_key():
        raise malformed("externalAccountBinding payload is not this account's key")
    if not inner.verify(jose.JWKOct(key=record.hmac_key)):
        raise unauthorized("the External Account Binding MAC does not verify")
    return record
