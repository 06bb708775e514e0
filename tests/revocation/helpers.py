"""Shared by the revocation and OCSP interop tests: actors, issuing, ledger state, OCSP request building."""

from __future__ import annotations

import functools
import hashlib
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import algos, core
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select

from ca import issuance
from ca.actor import Actor, cli_operator
from ca.ledger import store
from ca.ledger.models import AuditEvent, BlockedKey, CertificateRecord, CRLState
from ca.runtime import Runtime, build_runtime
from ca.settings import load_settings
from ca.x509.serials import serial_tag
from tests.conftest import EIC
from tests.support.ledger import snapshot
from tests.support.seed import seed_issued
from tests.support.server import PKICTL, Server, free_port, process_environment, running_server
from tests.vectors.bad_csrs import csr_for, good_csr

HASH_OIDS = {"sha1": "1.3.14.3.2.26", "sha256": "2.16.840.1.101.3.4.2.1", "sha384": "2.16.840.1.101.3.4.2.2",
             "sha512": "2.16.840.1.101.3.4.2.3"}
NONCE_OID = "1.3.6.1.5.5.7.48.1.2"


# --- actors and the ledger --------------------------------------------------------------------------------
def seed_alice_rows(runtime: Runtime, now: datetime, count: int, *, age_days: int) -> list[int]:
    """`count` issued browser rows of alice (the test company) issued `age_days` ago, valid 200 days more;
    returns their serial numbers (tests.support.seed.seed_issued)."""
    with runtime.sessionmaker() as session:
        issuer_id = store.get_active_issuer(session).id
        company_id = store.get_company_by_eic(session, EIC).id
        user_id = store.get_user_by_email(session, "alice@example.com").id
    return seed_issued(runtime, count=count, issuer_id=issuer_id, company_id=company_id, user_id=user_id,
                       not_before=now - timedelta(days=age_days), not_after=now + timedelta(days=200))


def user_actor(runtime: Runtime, email: str) -> Actor:
    """The Actor a logged-in portal user would be (company and role from the ledger)."""
    with runtime.sessionmaker() as session:
        user = store.get_user_by_email(session, email)
        return Actor(kind="user", name=email, user_id=user.id, company_id=user.company_id, role=user.role)


def issue(runtime: Runtime, actor: Actor, email: str | None = "alice@example.com", *, key: Any = None,
          profile: str = "browser", days: int | None = None) -> issuance.IssuedCertificate:
    csr = csr_for(key) if key is not None else good_csr("ec-p256")[1]
    return issuance.issue_certificate(runtime, actor, csr_data=csr, user_email=email, profile_name=profile,
                                      days=days, dns_names=("leaf.example",) if profile == "tls-server" else ())


def ledger_state(runtime: Runtime) -> dict[str, Any]:
    """Row counts plus every certificate's revocation fields, blocked keys and CRL state: 'nothing changed'."""
    with runtime.sessionmaker() as session:
        certificates = session.execute(
            select(CertificateRecord.serial, CertificateRecord.status, CertificateRecord.revoked_at,
                   CertificateRecord.revocation_reason).order_by(CertificateRecord.id)).all()
        blocked = session.execute(select(BlockedKey.spki_sha256).order_by(BlockedKey.spki_sha256)).scalars().all()
        crl = session.execute(select(CRLState.issuer_id, CRLState.kind, CRLState.crl_number, CRLState.dirty)
                              .order_by(CRLState.issuer_id, CRLState.kind)).all()
    return {"counts": snapshot(runtime), "certificates": [tuple(r) for r in certificates],
            "blocked": list(blocked), "crl": [tuple(r) for r in crl]}


def certificate_row(runtime: Runtime, serial: str) -> CertificateRecord:
    with runtime.sessionmaker() as session:
        return store.get_certificate(session, serial)


def audit_events(runtime: Runtime, action: str | None = None) -> list[AuditEvent]:
    with runtime.sessionmaker() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        return list(session.execute(query).scalars())


def set_last_used(runtime: Runtime, serial: str, when: Any) -> None:
    """The front office records use (issue 4); until then the test writes the column it will write."""
    with runtime.sessionmaker.begin() as session:
        store.get_certificate(session, serial).last_used_at = when


# --- files and tools --------------------------------------------------------------------------------------
def write_pem(path: Path, *certificates: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certificates))
    return path


def run(*argv: str | Path, timeout: float = 60, check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv[0]} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


# --- OCSP requests (asn1crypto: any nonce size, several CertIDs, any hash) ---------------------------------
@functools.lru_cache(maxsize=32)
def _subject_and_key_bits(certificate: x509.Certificate) -> tuple[bytes, bytes]:
    tbs = asn1_x509.TbsCertificate.load(certificate.tbs_certificate_bytes)
    return tbs["subject"].dump(), bytes(tbs["subject_public_key_info"]["public_key"].contents[1:])


def cert_id(issuer: x509.Certificate, serial_number: int, hash_name: str = "sha1") -> asn1_ocsp.CertId:
    """RFC 6960 §4.1.1 CertID, computed independently of ca.x509.ocsp."""
    subject, key_bits = _subject_and_key_bits(issuer)
    return asn1_ocsp.CertId({
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": HASH_OIDS[hash_name], "parameters": core.Null()}),
        "issuer_name_hash": hashlib.new(hash_name, subject).digest(),
        "issuer_key_hash": hashlib.new(hash_name, key_bits).digest(),
        "serial_number": serial_number,
    })


def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + body


_NONCE_OID_DER = bytes.fromhex("06092b0601050507300102")


def ocsp_request(*cert_ids: asn1_ocsp.CertId | bytes, nonce: bytes | None = None) -> bytes:
    """An unsigned OCSPRequest (RFC 6960 §4.1.1) written by hand (asn1crypto's encoder costs ms per request,
    and the GET tests build thousands); the nonce extnValue is the DER of one OCTET STRING (RFC 9654 §2.1),
    of any length. Checked against asn1crypto's encoding in test_ocsp_table."""
    ders = [c if isinstance(c, bytes) else c.dump() for c in cert_ids]
    tbs = _tlv(0x30, b"".join(_tlv(0x30, d) for d in ders))  # requestList SEQUENCE OF Request { reqCert }
    if nonce is not None:
        extension = _tlv(0x30, _NONCE_OID_DER + _tlv(0x04, _tlv(0x04, nonce)))
        tbs += _tlv(0xA2, _tlv(0x30, extension))  # requestExtensions [2] EXPLICIT Extensions
    return _tlv(0x30, _tlv(0x30, tbs))


def ocsp_request_asn1crypto(*cert_ids: asn1_ocsp.CertId, nonce: bytes | None = None) -> bytes:
    """The same request encoded by asn1crypto (the reference for ocsp_request)."""
    tbs: dict[str, Any] = {"request_list": [{"req_cert": cid} for cid in cert_ids]}
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": NONCE_OID, "critical": False, "extn_value": nonce}]
    return asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump()


# --- a real repository server on the test's ledger (interop tests) ----------------------------------------
@dataclass
class LiveRepository:
    """`pkictl serve repository` on a free port, and a real-clock runtime on the same ledger to issue leaves."""

    server: Server
    runtime: Runtime
    environ: dict[str, str]
    directory: Path
    root_pem: Path
    issuer_pem: Path
    issuer_name: str

    @property
    def ocsp_url(self) -> str:
        return self.server.url("/pki/ocsp")

    def issue_leaf(self, name: str = "leaf") -> tuple[str, Path]:
        issued = issue(self.runtime, cli_operator("pytest"))
        path = self.directory / f"{name}-{serial_tag(issued.serial)}.pem"
        path.write_bytes(issued.pem)
        return issued.serial, path

    def pkictl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The real CLI in its own process, on the same ledger, as an operator would run it."""
        return run(PKICTL, *args, timeout=timeout, env=process_environment(self.environ))


@contextmanager
def live_repository(environ: dict[str, str], session_pki: Any, directory: Path,
                    extra_env: dict[str, str] | None = None) -> Iterator[LiveRepository]:
    """Needs the issuer installed in the ledger of `environ` (the `runtime` fixture does it)."""
    port = free_port()
    env = {**environ, "PKI_REPOSITORY__BASE_URL": f"http://127.0.0.1:{port}", **(extra_env or {})}
    runtime = build_runtime(load_settings(None, env))
    try:
        with running_server(env, directory, port=port) as server:
            yield LiveRepository(server=server, runtime=runtime, environ=env, directory=directory,
                                 root_pem=write_pem(directory / "root.pem", session_pki.root),
                                 issuer_pem=write_pem(directory / "issuer.pem", session_pki.issuer),
                                 issuer_name=session_pki.issuer_name)
    finally:
        runtime.close()
