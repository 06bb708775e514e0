"""ACME accounts (RFC 8555 §7.3): authenticating requests, creation under External Account Binding,
contact updates, deactivation (§7.3.6) and key change (§7.3.5). Every account belongs to one company."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import josepy as jose
from acme import jws as acme_jws
from acme import messages

from ca.actor import Actor
from ca.errors import PKIError
from ca.ledger import Session, acme_store
from ca.ledger.acme_models import AcmeAccount
from ca.ledger.audit import append_event
from ca.runtime import Runtime
from ca.vocabulary import ActorKind
from enrollment.acme_server.eab import as_jwk, verify_eab
from enrollment.acme_server.errors import AcmeError, malformed, unauthorized
from enrollment.acme_server.jws import (
    ALGORITHMS,
    DECODE_ERRORS,
    SignedRequest,
    bad_algorithm,
    load_jwk,
    parse_request,
    thumbprint,
)
from enrollment.acme_server.nonces import use_nonce
from enrollment.acme_server.urls import Urls


@dataclass(frozen=True)
class Caller:
    request: SignedRequest
    account_id: int | None
    company_id: int | None
    source_ip: str | None

    def actor(self) -> Actor:
        """The ACME account acts as the CA's own system for its company (its rights were checked here)."""
        return Actor(kind=ActorKind.SYSTEM, name=f"acme:account/{self.account_id}", company_id=self.company_id,
                     source_ip=self.source_ip)

    def require_account(self) -> int:
        if self.account_id is None:
            raise malformed("this request must be signed by an account key named by kid (RFC 8555 §6.2)")
        return self.account_id


def authenticate(runtime: Runtime, urls: Urls, body: bytes, url: str, *, source_ip: str | None,
                 embedded_key: str = "forbidden") -> Caller:
    """§6.2-§6.5: nonce (used once, even when what follows fails), url, then the signature by the account
    key (`kid`) or, where `embedded_key` is `required` or `allowed`, by the key in `jwk`."""
    request = parse_request(body)
    try:
        with runtime.sessionmaker.begin() as session:
            use_nonce(session, runtime, request.nonce)
    except AcmeError as error:  # still say who signed it, when the signature holds (audit, refusals.py)
        error.verified_caller = _verified_or_none(runtime, urls, request, url, source_ip, embedded_key)
        raise
    return _identify(runtime, urls, request, url, source_ip, embedded_key)


def _verified_or_none(runtime: Runtime, urls: Urls, request: SignedRequest, url: str, source_ip: str | None,
                      embedded_key: str) -> Caller | None:
    try:
        return _identify(runtime, urls, request, url, source_ip, embedded_key)
    except PKIError:
        return None


def _identify(runtime: Runtime, urls: Urls, request: SignedRequest, url: str, source_ip: str | None,
              embedded_key: str) -> Caller:
    """§6.3-§6.4: the url, then the signature by the account key (`kid`) or the embedded `jwk`."""
    if request.url != url:
        raise unauthorized(f"the JWS url {request.url!r} is not the URL of this request")
    if request.jwk is not None:
        if embedded_key == "forbidden":
            raise malformed("this request must name its account with kid, not jwk (RFC 8555 §6.2)")
        request.verify(request.jwk)
        return Caller(request, None, None, source_ip)
    if embedded_key == "required":
        raise malformed("newAccount must carry the account key as jwk (RFC 8555 §7.3)")
    account_id = urls.account_id(request.kid or "")
    with runtime.sessionmaker() as session:
        account = acme_store.find_account(session, account_id) if account_id else None
        if account is None:
            raise AcmeError("accountDoesNotExist", "no account with this kid", 400)
        if account.status != messages.STATUS_VALID.name:
            raise unauthorized(f"account is {account.status}")
        request.verify(load_jwk(account.jwk))
        return Caller(request, account.id, account.company_id, source_ip)


def account_json(account: AcmeAccount, urls: Urls) -> dict[str, Any]:
    return {"status": account.status, "contact": json.loads(account.contact), "orders": urls.orders(account.id),
            "termsOfServiceAgreed": True}


def _contact(payload: dict[str, Any]) -> list[str]:
    contact = payload.get("contact", [])
    if not isinstance(contact, list) or not all(isinstance(c, str) for c in contact) or len(contact) > 10:
        raise AcmeError("invalidContact", "contact must be a list of at most 10 URLs")
    for item in contact:
        if not item.startswith("mailto:") or "@" not in item or len(item) > 254:
            raise AcmeError("unsupportedContact", f"only mailto: contacts are supported, not {item!r}")
    return list(contact)


def new_account(runtime: Runtime, urls: Urls, caller: Caller) -> tuple[AcmeAccount, bool]:
    """§7.3: returns the account and whether it was created (an existing key gets its account, 200)."""
    payload = caller.request.json_payload()
    try:
        registration = messages.NewRegistration.from_json(payload)
    except DECODE_ERRORS as exc:
        raise malformed(f"newAccount payload: {exc}") from None
    key = caller.request.jwk
    assert key is not None
    print_ = thumbprint(key)
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        existing = acme_store.find_account_by_thumbprint(session, print_)
        if existing is not None:
            if existing.status != "valid":
                raise unauthorized(f"the account of this key is {existing.status}")  # §7.3.6: final
            return existing, False
        if registration.only_return_existing:
            raise AcmeError("accountDoesNotExist", "no account exists with this key")
        contact = _contact(payload)
        record = verify_eab(session, payload.get("externalAccountBinding"), key, urls.new_account)
        account = acme_store.add_account(session, AcmeAccount(
            company_id=record.company_id, eab_kid=record.kid, key_thumbprint=print_, jwk=key.json_dumps(),
            contact=json.dumps(contact), status="valid", created_at=now))
        append_event(session, at=now, actor=f"acme:account/{account.id}", action="acme.account.created",
                     object_type="acme_account", object_id=str(account.id), company_id=account.company_id,
                     details={"eab_kid": record.kid, "contact": contact}, source_ip=caller.source_ip)
        return account, True


def update_account(runtime: Runtime, urls: Urls, caller: Caller, account_id: int) -> AcmeAccount:
    """§7.3.2 contact update, §7.3.6 deactivation (final), or POST-as-GET (§7.3.3)."""
    if caller.require_account() != account_id:
        raise unauthorized("an account may only read or change itself")
    with runtime.sessionmaker.begin() as session:
        account = acme_store.get_account(session, account_id)
        if not caller.request.payload:
            return account
        payload = caller.request.json_payload()
        if "contact" in payload:
            account.contact = json.dumps(_contact(payload))
            _audit(session, runtime, caller, account, "acme.account.updated", {"contact": json.loads(account.contact)})
        if payload.get("status") == "deactivated":
            account.status = "deactivated"
            _audit(session, runtime, caller, account, "acme.account.deactivated", {})
        elif "status" in payload:
            raise malformed("an account's status may only be set to deactivated")
        session.flush()
        return account


def change_key(runtime: Runtime, urls: Urls, caller: Caller) -> AcmeAccount:
    """§7.3.5: the inner JWS, signed by the new key, names the account and the old key."""
    account_id = caller.require_account()
    outer = caller.request.json_payload()
    inner = parse_request_inner(outer)
    new_key = inner.jwk
    if new_key is None or inner.url != urls.key_change:
        raise malformed("keyChange: the inner JWS must carry the new key as jwk and the keyChange url")
    inner.verify(new_key)
    payload = inner.json_payload()
    if payload.get("account") != urls.account(account_id):
        raise malformed("keyChange: the inner payload does not name this account")
    new_print = thumbprint(new_key)
    with runtime.sessionmaker.begin() as session:
        account = acme_store.get_account(session, account_id)
        try:
            old_key = as_jwk(payload.get("oldKey"))
        except DECODE_ERRORS:
            raise malformed("keyChange: oldKey is not a JWK") from None
        if thumbprint(old_key) != account.key_thumbprint:
            raise unauthorized("keyChange: oldKey is not the account's current key")
        other = acme_store.find_account_by_thumbprint(session, new_print)
        if other is not None:
            raise AcmeError("malformed", "another account already uses the new key", 409)
        account.jwk, account.key_thumbprint = new_key.json_dumps(), new_print
        _audit(session, runtime, caller, account, "acme.account.key_changed", {"thumbprint": new_print})
        session.flush()
        return account


def parse_request_inner(outer: dict[str, Any]) -> SignedRequest:
    """The inner JWS of keyChange (§7.3.5): an allowed algorithm, the new key as jwk, a url, no nonce."""
    if not isinstance(outer.get("protected"), str) or "signatures" in outer or outer.get("header"):
        raise malformed("keyChange payload must be a flattened JWS with only a protected header")
    try:
        header = json.loads(jose.b64decode(outer["protected"]))
    except (ValueError, TypeError):
        raise malformed("keyChange: the inner protected header is unreadable") from None
    if not isinstance(header, dict) or "nonce" in header or "kid" in header or "jwk" not in header:
        raise malformed("keyChange: the inner JWS carries the new key as jwk, and no nonce or kid")
    if header.get("alg") not in ALGORITHMS:
        raise bad_algorithm(header.get("alg"))
    try:
        inner = acme_jws.JWS.from_json(outer)
    except DECODE_ERRORS as exc:
        raise malformed(f"keyChange: the inner JWS cannot be read: {exc}") from None
    assert isinstance(inner, jose.JWS)
    combined = inner.signature.combined
    return SignedRequest(jws=inner, payload=inner.payload, nonce="", url=str(header.get("url", "")),
                         jwk=combined.jwk, kid=None)


def _audit(session: Session, runtime: Runtime, caller: Caller, account: AcmeAccount, action: str,
           details: dict[str, Any]) -> None:
    append_event(session, at=runtime.clock.now(), actor=f"acme:account/{account.id}", action=action,
                 object_type="acme_account", object_id=str(account.id), company_id=account.company_id,
                 details=details, source_ip=caller.source_ip)
