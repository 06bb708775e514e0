"""Orders, authorizations, challenges and finalization (RFC 8555 §7.4, §7.5, §7.1.6 state machine).

Finalization goes through the one issuance pipeline (`ca.issuance.issue_certificate`: validate, intent,
lint, sign, ledger) with the account's company, so an ACME certificate is an ordinary company certificate
in the ledger, the CRLs and OCSP. A renewal is an ordinary new order.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.errors import PKIError
from ca.issuance import issue_certificate
from ca.ledger import Session, acme_store, store
from ca.ledger.acme_models import AcmeAuthorization, AcmeChallenge, AcmeOrder
from ca.ledger.audit import append_event
from ca.runtime import Runtime
from enrollment.acme_server.accounts import Caller
from enrollment.acme_server.challenges import validate_http01, validate_tls_alpn01
from enrollment.acme_server.domains import check_identifiers, normalize_domain
from enrollment.acme_server.errors import PREFIX, AcmeError, as_acme_error, malformed, not_found
from enrollment.acme_server.jws import DECODE_ERRORS, load_jwk, thumbprint
from enrollment.acme_server.urls import Urls

PENDING_STATES = ("pending", "processing")
CHALLENGE_TYPES = ("http-01", "tls-alpn-01")


def rfc3339(value: datetime | None) -> str | None:
    """RFC 8555 §7.1 timestamps: RFC 3339, UTC, whole seconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _identifiers(names: list[str]) -> list[dict[str, str]]:
    return [{"type": "dns", "value": name} for name in names]


def shown_status(status: str, expires_at: datetime, now: datetime, *, order: bool) -> str:
    """RFC 8555 §7.1.6 status changes with time, applied when the object is read (nothing sweeps the
    ledger): past `expires`, a pending or ready order is `invalid` (§7.1.3), a pending or valid
    authorization is `expired`. Final states stay as they are."""
    if expires_at > now:
        return status
    if order and status in ("pending", "ready"):
        return "invalid"
    if not order and status in ("pending", "valid"):
        return "expired"
    return status


def order_json(session: Session, order: AcmeOrder, urls: Urls, now: datetime) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": shown_status(order.status, order.expires_at, now, order=True),
        "expires": rfc3339(order.expires_at),
        "identifiers": _identifiers(json.loads(order.identifiers)),
        "authorizations": [urls.authorization(a.id) for a in acme_store.list_order_authorizations(session, order.id)],
        "finalize": urls.finalize(order.id),
    }
    if order.certificate_id is not None:
        body["certificate"] = urls.certificate(order.id)
    if order.error:
        body["error"] = json.loads(order.error)
    return body


def challenge_json(challenge: AcmeChallenge, urls: Urls) -> dict[str, Any]:
    body: dict[str, Any] = {"type": challenge.type, "url": urls.challenge(challenge.id), "token": challenge.token,
                            "status": challenge.status}
    if challenge.validated_at is not None:
        body["validated"] = rfc3339(challenge.validated_at)
    if challenge.error:
        body["error"] = json.loads(challenge.error)
    return body


def authorization_json(session: Session, authorization: AcmeAuthorization, urls: Urls,
                       now: datetime) -> dict[str, Any]:
    return {"status": shown_status(authorization.status, authorization.expires_at, now, order=False),
            "expires": rfc3339(authorization.expires_at),
            "identifier": {"type": "dns", "value": authorization.identifier},
            "challenges": [challenge_json(c, urls)
                           for c in acme_store.list_authorization_challenges(session, authorization.id)]}


def _owned_order(session: Session, caller: Caller, order_id: int) -> AcmeOrder:
    order = acme_store.get_order(session, order_id)
    if order.account_id != caller.require_account():
        raise not_found(f"no order {order_id}")  # another account's order is answered as one that does not exist
    return order


def new_order(runtime: Runtime, urls: Urls, caller: Caller) -> tuple[int, dict[str, Any]]:
    """§7.4: identifiers checked against the company's domains; one authorization with an http-01
    challenge per name. notBefore/notAfter are refused: the profile sets the validity."""
    account_id = caller.require_account()
    payload = caller.request.json_payload()
    try:
        request = messages.NewOrder.from_json(payload)
        identifiers = [(str(i.typ.name), str(i.value)) for i in (request.identifiers or ())]
    except DECODE_ERRORS as exc:
        raise malformed(f"newOrder payload: {exc}") from None
    if "notBefore" in payload or "notAfter" in payload:
        raise malformed("notBefore and notAfter are not supported: the tls-server profile sets the validity")
    now = runtime.clock.now()
    expires = now + timedelta(days=runtime.settings.acme.order_days)
    with runtime.sessionmaker.begin() as session:
        assert caller.company_id is not None
        names = check_identifiers(session, caller.company_id, identifiers)
        order = acme_store.add_order(session, AcmeOrder(account_id=account_id, status="pending",
                                                        identifiers=json.dumps(names), expires_at=expires,
                                                        created_at=now))
        for name in names:
            authorization = acme_store.add_authorization(session, AcmeAuthorization(
                order_id=order.id, account_id=account_id, identifier=name, status="pending", expires_at=expires))
            for kind in CHALLENGE_TYPES:
                acme_store.add_challenge(session, AcmeChallenge(authorization_id=authorization.id, type=kind,
                                                                token=secrets.token_urlsafe(32), status="pending"))
        append_event(session, at=now, actor=caller.actor().name, action="acme.order.created",
                     object_type="acme_order", object_id=str(order.id), company_id=caller.company_id,
                     details={"identifiers": names}, source_ip=caller.source_ip)
        return order.id, order_json(session, order, urls, now)


def get_order(runtime: Runtime, urls: Urls, caller: Caller, order_id: int) -> dict[str, Any]:
    with runtime.sessionmaker() as session:
        return order_json(session, _owned_order(session, caller, order_id), urls, runtime.clock.now())


def get_authorization(runtime: Runtime, urls: Urls, caller: Caller, authorization_id: int) -> dict[str, Any]:
    """POST-as-GET, or §7.5.2 deactivation by the client."""
    with runtime.sessionmaker.begin() as session:
        authorization = acme_store.get_authorization(session, authorization_id)
        if authorization.account_id != caller.require_account():
            raise not_found(f"no authorization {authorization_id}")
        if caller.request.payload:
            if caller.request.json_payload().get("status") != "deactivated":
                raise malformed("an authorization's status may only be set to deactivated")
            authorization.status = "deactivated"
            _settle_order(session, authorization.order_id)
        return authorization_json(session, authorization, urls, runtime.clock.now())


def respond_challenge(runtime: Runtime, urls: Urls, caller: Caller, challenge_id: int) -> tuple[int, dict[str, Any]]:
    """§7.5.1: the client says it is ready; validate now (the client's server is up while it waits for this
    answer), then settle the authorization and the order. Returns the authorization id (Link: up)."""
    account_id = caller.require_account()
    with runtime.sessionmaker() as session:
        challenge = acme_store.get_challenge(session, challenge_id)
        authorization = acme_store.get_authorization(session, challenge.authorization_id)
        account = acme_store.get_account(session, account_id)
        if authorization.account_id != account_id:
            raise not_found(f"no challenge {challenge_id}")
        name, token, kind = authorization.identifier, challenge.token, challenge.type
        key_authorization = f"{token}.{thumbprint(load_jwk(account.jwk))}"
        if challenge.status != "pending" or authorization.status != "pending" or not caller.request.payload:
            return authorization.id, challenge_json(challenge, urls)
        if authorization.expires_at <= runtime.clock.now():
            raise malformed("this authorization has expired: place a new order")
    if kind == "tls-alpn-01":
        outcome = validate_tls_alpn01(name, key_authorization, runtime.settings.acme)
    else:
        outcome = validate_http01(name, token, key_authorization, runtime.settings.acme)
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        challenge = acme_store.get_challenge(session, challenge_id)
        authorization = acme_store.get_authorization(session, challenge.authorization_id)
        if challenge.status == "pending" and authorization.status == "pending":  # not settled meanwhile
            challenge.status = "valid" if outcome.valid else "invalid"
            challenge.validated_at = now if outcome.valid else None
            if not outcome.valid:
                challenge.error = json.dumps({"type": PREFIX + outcome.error_type, "detail": outcome.detail,
                                              "status": 403})
            authorization.status = challenge.status
            _settle_order(session, authorization.order_id)
            append_event(session, at=now, actor=caller.actor().name, action=f"acme.challenge.{challenge.status}",
                         object_type="acme_authorization", object_id=str(authorization.id),
                         company_id=caller.company_id,
                         details={"identifier": name, "type": kind, "detail": outcome.detail},
                         source_ip=caller.source_ip)
        return authorization.id, challenge_json(challenge, urls)


def _settle_order(session: Session, order_id: int) -> None:
    """§7.1.6: ready when every authorization is valid, invalid as soon as one is not."""
    order = acme_store.get_order(session, order_id)
    if order.status != "pending":
        return
    states = {a.status for a in acme_store.list_order_authorizations(session, order_id)}
    if states & {"invalid", "deactivated", "expired", "revoked"}:
        order.status = "invalid"
        order.error = json.dumps({"type": PREFIX + "unauthorized", "detail": "an authorization failed",
                                  "status": 403})
    elif states == {"valid"}:
        order.status = "ready"
    session.flush()


def _csr_names(csr: x509.CertificateSigningRequest) -> set[str]:
    names: set[str] = set()
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names.update(str(n) for n in san.get_values_for_type(x509.DNSName))
        if san.get_values_for_type(x509.IPAddress):
            raise AcmeError("badCSR", "the CSR names IP addresses, which this order does not")
    except x509.ExtensionNotFound:
        pass
    for attribute in csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        names.add(str(attribute.value))
    normalized = {normalize_domain(n) or n for n in names}
    return normalized


def finalize(runtime: Runtime, urls: Urls, caller: Caller, order_id: int) -> dict[str, Any]:
    """§7.4: the CSR must name exactly the order's identifiers; then the one issuance pipeline."""
    payload = caller.request.json_payload()
    try:
        csr = messages.CertificateRequest.from_json(payload).csr
    except DECODE_ERRORS:
        raise AcmeError("badCSR", "the csr field is not a base64url DER certificate signing request") from None
    with runtime.sessionmaker.begin() as session:
        order = _owned_order(session, caller, order_id)
        if order.status != "ready":
            raise AcmeError("orderNotReady", f"the order is {order.status}, not ready", 403)
        if order.expires_at <= runtime.clock.now():
            raise AcmeError("orderNotReady", "the order has expired: place a new order", 403)
        names = json.loads(order.identifiers)
        try:
            asked = _csr_names(csr)
        except ValueError:
            raise AcmeError("badCSR", "the CSR's extensions cannot be read") from None
        if asked != set(names):
            raise AcmeError("badCSR", "the CSR must name exactly the order's identifiers: " + ", ".join(names))
        order.status = "processing"
    settings = runtime.settings.acme
    try:
        issued = issue_certificate(runtime, caller.actor(), csr_data=csr.public_bytes(Encoding.DER), user_email=None,
                                   profile_name="tls-server", days=settings.certificate_days,
                                   dns_names=tuple(names), company_id=caller.company_id)
    except PKIError as error:
        problem = as_acme_error(error)
        with runtime.sessionmaker.begin() as session:
            order = acme_store.get_order(session, order_id)
            order.status, order.error = "invalid", json.dumps(problem.problem())
        raise problem from None
    with runtime.sessionmaker.begin() as session:
        issuer_id = store.get_issuer_by_name(session, issued.issuer).id
        order = acme_store.get_order(session, order_id)
        order.status = "valid"
        order.certificate_id = store.get_certificate(session, issued.serial, issuer_id).id
        append_event(session, at=runtime.clock.now(), actor=caller.actor().name, action="acme.order.valid",
                     object_type="acme_order", object_id=str(order.id), company_id=caller.company_id,
                     details={"serial": issued.serial, "issuer": issued.issuer}, source_ip=caller.source_ip)
        return order_json(session, order, urls, runtime.clock.now())


def certificate_chain(runtime: Runtime, caller: Caller, order_id: int) -> bytes:
    """§7.4.2: application/pem-certificate-chain, the leaf then its issuer (the root is the trust anchor)."""
    with runtime.sessionmaker() as session:
        order = _owned_order(session, caller, order_id)
        if order.certificate_id is None:
            raise not_found(f"order {order_id} has no certificate")
        record = acme_store.get_certificate_by_id(session, order.certificate_id)
        issuer = next(i for i in store.list_issuers(session) if i.id == record.issuer_id)
        assert record.der is not None
        leaf = x509.load_der_x509_certificate(record.der).public_bytes(Encoding.PEM)
        return leaf + x509.load_der_x509_certificate(issuer.certificate_der).public_bytes(Encoding.PEM)


def list_orders(runtime: Runtime, urls: Urls, caller: Caller, account_id: int) -> dict[str, Any]:
    """§7.1.2.1: the account's orders, newest first (at most 1000; no pagination)."""
    if caller.require_account() != account_id:
        raise AcmeError("unauthorized", "an account may only list its own orders", 403)
    with runtime.sessionmaker() as session:
        return {"orders": [urls.order(i) for i in acme_store.list_account_order_ids(session, account_id)]}
