"""What the public repository serves (DESIGN §8): CA certificates from the ledger, CRLs from the
published files. Built as a path → (media type, body) table so the web layer only does a dict lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import Actor
from ca.ledger import store
from ca.runtime import Runtime
from ca.vocabulary import IssuerStatus
from ca.x509 import repository_paths as paths
from ca.x509.crl import crl_number_of
from ca.x509.signer import ca_public_key

CERT_TYPE = "application/pkix-cert"
CRL_TYPE = "application/pkix-crl"


PEM_TYPE = "application/x-pem-file"  # RFC 7468 text encoding; no registered media type exists


@dataclass(frozen=True)
class Document:
    """One served file; `title` and `purpose` are its line on the /pki/ index (empty: not listed)."""

    media_type: str
    body: bytes
    title: str = ""
    purpose: str = ""


def _certificate_documents(documents: dict[str, Document], der_path: str, pem_path: str, der: bytes,
                           title: str, purpose: str) -> None:
    """A CA certificate twice: DER (what AIA caIssuers points to, RFC 5280 §4.2.2.1) and PEM (RFC 7468)."""
    certificate = x509.load_der_x509_certificate(der)
    documents[der_path] = Document(CERT_TYPE, certificate.public_bytes(Encoding.DER), f"{title} (DER)", purpose)
    documents[pem_path] = Document(PEM_TYPE, certificate.public_bytes(Encoding.PEM), f"{title} (PEM)", purpose)


def repository_documents(runtime: Runtime) -> dict[str, Document]:
    documents: dict[str, Document] = {}
    with runtime.sessionmaker() as session:
        records = store.list_issuers(session)
    for record in records:
        if record.status == IssuerStatus.REMOVED:
            continue
        _certificate_documents(
            documents, paths.ROOT_CERTIFICATE, paths.ROOT_CERTIFICATE_PEM, record.root_der, "Root CA certificate",
            "the trust anchor: install it in browsers and trust stores, or give it to openssl as -CAfile")
        state = "retired: still signs its CRL until its last certificate expires" \
            if record.status == IssuerStatus.RETIRED else "issues the subscriber certificates"
        _certificate_documents(
            documents, paths.issuer_certificate(record.name), paths.issuer_certificate_pem(record.name),
            record.certificate_der, f"Issuing CA {record.name}",
            f"intermediate certificate signed by the root; {state}; send it with a client certificate chain")
    cross_dir = runtime.settings.repository.cross_dir
    if cross_dir.is_dir():
        for path in sorted(cross_dir.glob("*.crt")):
            documents[paths.cross_certificate(path.stem)] = Document(
                CERT_TYPE, path.read_bytes(), f"Cross-certificate {path.stem} (DER)",
                "links an old and a new root during a root rollover")
    crl_dir = runtime.settings.repository.crl_dir
    if crl_dir.is_dir():
        for path in sorted(crl_dir.glob("*.crl")):
            if path.name == "root.crl":
                documents[paths.ROOT_CRL] = Document(
                    CRL_TYPE, path.read_bytes(), "Root CRL (DER)",
                    "the issuing CAs the root has revoked (RFC 5280 §5); renewed by the offline root ceremony")
            else:
                documents[f"{paths.PREFIX}/crl/{path.name}"] = Document(
                    CRL_TYPE, path.read_bytes(), f"CRL of {path.stem} (DER)",
                    "every revoked certificate of this issuer (RFC 5280 §5); renewed before its nextUpdate")
    return documents


def import_root_crl(runtime: Runtime, actor: Actor, data: bytes) -> int:
    """Publish the offline root's CRL: it must be signed by the installed root and newer than the current one."""
    from ca.errors import BadRequestError, ConflictError
    from ca.files import write_atomically
    from ca.ledger.audit import append_event

    try:
        crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
    except ValueError:
        raise BadRequestError("not a CRL (PEM or DER)") from None
    with runtime.sessionmaker() as session:
        records = store.list_issuers(session)
    if not records:
        raise BadRequestError("no issuer installed yet: the root certificate is not known to the ledger")
    roots = {r.root_der: x509.load_der_x509_certificate(r.root_der) for r in records}
    if not any(crl.issuer == root.subject and crl.is_signature_valid(ca_public_key(root.public_key()))
               for root in roots.values()):
        raise BadRequestError("the CRL is not signed by the installed root CA")
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        raise BadRequestError("the CRL has no CRLNumber extension (RFC 5280 §5.2.3): not made by `pkictl root crl`") \
            from None
    path = runtime.settings.repository.crl_dir / "root.crl"
    if path.exists():
        if crl_number_of(path.read_bytes()) >= number:
            raise ConflictError("the published root CRL already has this number or a higher one")
    write_atomically(path, crl.public_bytes(Encoding.DER))
    with runtime.sessionmaker.begin() as session:
        append_event(session, at=runtime.clock.now(), actor=actor.name, action="crl.root_imported",
                     object_type="crl", object_id="root", details={"crl_number": number},
                     source_ip=actor.source_ip)
    return int(number)


def publish_cross_certificate(runtime: Runtime, actor: Actor, *, name: str, certificate: x509.Certificate) -> str:
    """Serve a root-rollover cross-certificate at /pki/cross/<name>.crt (DER)."""
    from ca.errors import BadRequestError
    from ca.files import write_new_file
    from ca.issuer import check_issuer_name
    from ca.ledger.audit import append_event

    actor.require_operator()
    check_issuer_name(name)
    try:
        if not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise BadRequestError("a cross-certificate is a CA certificate (CA:TRUE)")
    except x509.ExtensionNotFound:
        raise BadRequestError("a cross-certificate needs basicConstraints CA:TRUE") from None
    if certificate.issuer == certificate.subject:
        raise BadRequestError("this is a self-signed certificate, not a cross-certificate")
    write_new_file(runtime.settings.repository.cross_dir / f"{name}.crt", certificate.public_bytes(Encoding.DER))
    with runtime.sessionmaker.begin() as session:
        append_event(session, at=runtime.clock.now(), actor=actor.name, action="repository.cross_published",
                     object_type="certificate", object_id=name,
                     details={"subject": certificate.subject.rfc4514_string(),
                              "issuer": certificate.issuer.rfc4514_string()}, source_ip=actor.source_ip)
    return paths.cross_certificate(name)

