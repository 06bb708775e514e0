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


@dataclass(frozen=True)
class Document:
    media_type: str
    body: bytes


def repository_documents(runtime: Runtime) -> dict[str, Document]:
    documents: dict[str, Document] = {}
    with runtime.sessionmaker() as session:
        records = store.list_issuers(session)
    for record in records:
        if record.status == IssuerStatus.REMOVED:
            continue
        documents[paths.issuer_certificate(record.name)] = Document(CERT_TYPE, record.certificate_der)
        root_der = x509.load_der_x509_certificate(record.root_der).public_bytes(Encoding.DER)
        documents[paths.ROOT_CERTIFICATE] = Document(CERT_TYPE, root_der)
    cross_dir = runtime.settings.repository.cross_dir
    if cross_dir.is_dir():
        for path in sorted(cross_dir.glob("*.crt")):
            documents[paths.cross_certificate(path.stem)] = Document(CERT_TYPE, path.read_bytes())
    crl_dir = runtime.settings.repository.crl_dir
    if crl_dir.is_dir():
        for path in sorted(crl_dir.glob("*.crl")):
            url = paths.ROOT_CRL if path.name == "root.crl" else f"{paths.PREFIX}/crl/{path.name}"
            documents[url] = Document(CRL_TYPE, path.read_bytes())
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

