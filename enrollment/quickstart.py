"""A local demo in one step: root, issuer, a demo company, its first administrator and a portal operator
account (`pkictl quickstart`).

Idempotent: each step is skipped when its result already exists. The demo keeps the root passphrase in
var/secrets next to the issuer's: acceptable for a laptop demo, never for production (README says so).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ca import root as root_ca
from ca.actor import Actor
from ca.errors import ConflictError
from ca.files import write_new_file
from ca.issuer import csr_for_existing_key, key_path, load_certificate_file
from ca.lifecycle import issuers
from ca.runtime import Runtime
from ca.secrets import read_passphrase
from ca.vocabulary import Role
from ca.x509.names import parse_dn
from enrollment.accounts import companies
from enrollment.accounts import users as accounts

DEMO_ISSUER = "issuing-ca-1"
DEMO_EIC = "10XDEMO-PRODUCE2"
DEMO_COMPANY = "Demo Producer"
DEMO_ADMIN = ("admin@demo-producer.example", "Alice Martin")
DEMO_OPERATOR = ("operator@portail-demo.example", "Demo Operator")
DEMO_ISSUER_SUBJECT = "CN=Portail Demo Issuing CA 1,O=Portail PKI Demo,C=FR"


@dataclass
class QuickstartReport:
    root_dir: Path
    root_cert: Path
    ledger: str
    key_dir: Path
    issuer: str
    company: str
    first_admin: str
    operator: str
    repository_url: str
    done: list[str] = field(default_factory=list)


def _ensure_passphrase(path: Path) -> bytes:
    if not path.exists():
        write_new_file(path, secrets.token_urlsafe(32).encode() + b"\n", mode=0o600)
    return read_passphrase(path)


def run_quickstart(runtime: Runtime, actor: Actor, *, root_dir: Path) -> QuickstartReport:
    settings = runtime.settings
    now = runtime.clock.now()
    var = settings.ca.passphrase_file.parent
    root_pass = _ensure_passphrase(var / "root.passphrase")
    issuer_pass = _ensure_passphrase(settings.ca.passphrase_file)
    report = QuickstartReport(
        root_dir=root_dir, root_cert=root_dir / "root.crt", ledger=settings.database.url,
        key_dir=settings.ca.key_dir, issuer=DEMO_ISSUER, company=DEMO_EIC, first_admin=DEMO_ADMIN[0],
        operator=DEMO_OPERATOR[0], repository_url=settings.repository.base_url.rstrip("/") + "/pki/",
    )
    if not (root_dir / "root.crt").exists():
        root_ca.init_root(root_dir, subject=parse_dn("CN=Portail Demo Root CA,O=Portail PKI Demo,C=FR"),
                          key_type="ec-p384", validity_years=20, passphrase=root_pass,
                          base_url=settings.repository.base_url, now=now)
        report.done.append("root CA created")
    if not issuers.list_issuers(runtime, actor):
        if key_path(settings.ca.key_dir, DEMO_ISSUER).exists():  # an earlier run stopped before installing it
            csr = csr_for_existing_key(settings.ca.key_dir, DEMO_ISSUER, parse_dn(DEMO_ISSUER_SUBJECT), issuer_pass)
        else:
            csr = issuers.create_issuer(runtime, actor, name=DEMO_ISSUER, subject=DEMO_ISSUER_SUBJECT,
                                        key_type="ec-p256", passphrase=issuer_pass)
        cert = root_ca.sign_issuer(root_dir, csr_data=csr, passphrase=root_pass, validity_years=8, now=now)
        issuers.install_issuer(runtime, actor, name=DEMO_ISSUER, certificate=cert,
                               root=load_certificate_file(root_dir / "root.crt"))
        report.done.append(f"issuer {DEMO_ISSUER} created, signed by the root and installed")
    published_root_crl = settings.repository.crl_dir / "root.crl"
    if not published_root_crl.exists():
        crl = root_ca.make_root_crl(root_dir, passphrase=root_pass, now=now)
        write_new_file(published_root_crl, crl)
        report.done.append("root CRL issued and published")
    try:
        companies.create_company(runtime, actor, eic=DEMO_EIC, name=DEMO_COMPANY)
        report.done.append(f"company {DEMO_EIC} registered")
    except ConflictError:
        pass
    try:
        accounts.create_user(runtime, actor, email=DEMO_ADMIN[0], full_name=DEMO_ADMIN[1],
                             company_eic=DEMO_EIC, role=Role.FIRST_ADMIN)
        report.done.append(f"first administrator {DEMO_ADMIN[0]} created")
    except ConflictError:
        pass
    try:
        accounts.create_user(runtime, actor, email=DEMO_OPERATOR[0], full_name=DEMO_OPERATOR[1],
                             company_eic=None, role=Role.OPERATOR)
        report.done.append(f"portal operator account {DEMO_OPERATOR[0]} created")
    except ConflictError:
        pass
    return report
