"""What the public repository serves (DESIGN §8): CA certificates from the ledger, CRLs from the
published files. Built as a path → (media type, body) table so the web layer only does a dict lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.ledger import store
from ca.runtime import Runtime

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
        if record.status == "removed":
            continue
        documents[f"/pki/ca/{record.name}.crt"] = Document(CERT_TYPE, record.certificate_der)
        root_der = x509.load_der_x509_certificate(record.root_der).public_bytes(Encoding.DER)
        documents["/pki/root.crt"] = Document(CERT_TYPE, root_der)
    crl_dir = runtime.settings.repository.crl_dir
    if crl_dir.is_dir():
        for path in sorted(crl_dir.glob("*.crl")):
            url = "/pki/root.crl" if path.name == "root.crl" else f"/pki/crl/{path.name}"
            documents[url] = Document(CRL_TYPE, path.read_bytes())
    return documents
