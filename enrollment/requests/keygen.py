"""Server-side key generation and PKCS#12 delivery (issue 4).

The key is generated in memory, proves possession through an ordinary CSR to the same issuance path as an
upload (DESIGN §4), goes into the PKCS#12 encrypted with the person's password, and is dropped: the ledger
and the disk never see it, so the file is returned once and cannot be downloaded again.
Under the `manual` policy the request waits; once approved, the person collects it here (choosing the
password at that moment, since it is never stored).
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import Actor
from ca.errors import BadRequestError, NotFoundError
from ca.keys.filekey import generate_private_key
from ca.ledger import portal_store
from ca.ledger.audit import append_event
from ca.runtime import Runtime
from ca.vocabulary import RequestStatus
from ca.x509.pkcs12 import ENCRYPTIONS, encode_pkcs12
from ca.x509.serials import serial_tag
from enrollment.accounts.passwords import check_password_rules
from enrollment.requests.approval import issue_for_request, member_of_company, record_request
from enrollment.requests.views import Download, RequestView

KEY_TYPES = ("ec-p256", "rsa-2048", "rsa-3072")
P12_MEDIA_TYPE = "application/x-pkcs12"


def check_choices(*, password: str, encryption: str, key_type: str) -> str:
    if encryption not in ENCRYPTIONS:
        raise BadRequestError(f"unknown file encryption {encryption!r}; choose one of {', '.join(ENCRYPTIONS)}")
    if key_type not in KEY_TYPES:
        raise BadRequestError(f"unknown key type {key_type!r}; choose one of {', '.join(KEY_TYPES)}")
    return check_password_rules(password)


def _filename(full_name: str, serial: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", full_name).strip("-").lower() or "certificate"
    return f"{slug}-{serial_tag(serial)}.p12"


def _deliver(runtime: Runtime, actor: Actor, *, request_id: int, password: str, encryption: str, key_type: str,
             email: str, full_name: str, company_name: str, predecessor_id: int | None = None) -> Download:
    assert actor.company_id is not None
    key = generate_private_key(key_type)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "server-side key")]))
           .sign(key, hashes.SHA256()))
    issued = issue_for_request(runtime, actor, request_id=request_id, company_id=actor.company_id,
                               csr_data=csr.public_bytes(Encoding.DER), user_email=email,
                               predecessor_id=predecessor_id)
    body = encode_pkcs12(key, issued.certificate, issued.chain, password=password.encode("utf-8"),
                         encryption=encryption, friendly_name=f"{full_name} ({company_name})")
    del key
    return Download(filename=_filename(full_name, issued.serial), media_type=P12_MEDIA_TYPE, body=body)


def request_generated_certificate(runtime: Runtime, actor: Actor, *, password: str, encryption: str = "modern",
                                  key_type: str = "ec-p256") -> tuple[RequestView, Download | None]:
    """Auto policy: the .p12 at once. Manual policy: a pending request (the password is not needed yet)."""
    recorded = record_request(runtime, actor, csr=None,
                              before_auto=lambda: check_choices(password=password, encryption=encryption,
                                                                key_type=key_type))
    if not recorded.auto:
        return recorded.view, None
    download = _deliver(runtime, actor, request_id=recorded.view.id, password=password, encryption=encryption,
                        key_type=key_type, email=recorded.email, full_name=recorded.full_name,
                        company_name=recorded.company_name)
    return recorded.view, download


def collect_generated_certificate(runtime: Runtime, actor: Actor, *, request_id: int, password: str,
                                  encryption: str = "modern", key_type: str = "ec-p256") -> Download:
    """An approved key-generation request of the person themself, collected once."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        user, company = member_of_company(session, actor)
        request = portal_store.get_company_request(session, company.id, request_id)
        if request.user_id != user.id or request.csr_der is not None:
            raise NotFoundError(f"no certificate request #{request_id}")
        if request.status != RequestStatus.APPROVED:
            raise BadRequestError(f"request #{request_id} is {request.status}: there is nothing to collect")
        password = check_choices(password=password, encryption=encryption, key_type=key_type)
        # Claimed inside the lock, so two clicks cannot make two keys.
        portal_store.mark_request(session, request, status=RequestStatus.ISSUING)
        append_event(session, at=now, actor=actor.name, action="request.collected", object_type="request",
                     object_id=str(request_id), company_id=company.id, source_ip=actor.source_ip)
        email, full_name, company_name = user.email, user.full_name, company.name
    return _deliver(runtime, actor, request_id=request_id, password=password, encryption=encryption,
                    key_type=key_type, email=email, full_name=full_name, company_name=company_name)
