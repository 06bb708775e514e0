"""A company with people, groups, services and connection points, and the certificates the gate is tried with.

Groups and perimeters go through the portal's use cases (enrollment.groups, enrollment.services); odd
certificates (expired, foreign, wrong EKU...) are built here with cryptography, signed by the session
issuer's key, and given a ledger row through the ORM where the case needs one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select

from ca.actor import Actor, cli_operator
from ca.issuance import issue_certificate
from ca.issuer import key_path
from ca.keys.filekey import load_private_key
from ca.ledger.models import CertificateRecord, Company, IssuerRecord, User
from ca.runtime import Runtime
from ca.x509.serials import format_serial, random_serial_number
from enrollment.accounts import companies
from enrollment.accounts import users as accounts
from enrollment.groups import groups, services
from tests.support.pki import PASSPHRASE, SessionPKI

EIC = "10XDEMO-PRODUCE2"
OTHER_EIC = "10XFR-RTE------Q"
OPERATOR = cli_operator("pytest")
PEOPLE = {  # email: (full name, role)
    "alice@example.com": ("Alice Martin", "first-admin"),
    "bob@example.com": ("Bob Trader", "user"),
    "carol@example.com": ("Carol Nogroup", "user"),
    "dave@example.com": ("Dave Gone", "user"),
    "erin@example.com": ("Erin Moved", "user"),
    "frank@example.com": ("Frank Emptygroup", "user"),
    "grace@example.com": ("Grace Revoked", "user"),
    "heidi@example.com": ("Heidi Pending", "user"),
}
POINTS = {"PDL-001": "Poste Nord", "PDL-002": "Poste Sud", "PDL-003": "Compteur Est"}


@dataclass
class Holder:
    """A client certificate with its key, and PEM files for curl."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_file: Path
    key_file: Path

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def serial(self) -> str:
        return format_serial(self.certificate.serial_number)


@dataclass
class World:
    runtime: Runtime
    pki: SessionPKI
    directory: Path
    issuer_name: str = ""  # the issuer forge() signs with and record() files under; "" = the session issuer
    company_id: int = 0
    user_ids: dict[str, int] = field(default_factory=dict)
    point_ids: dict[str, int] = field(default_factory=dict)

    def admin(self) -> Actor:
        return Actor(kind="user", name="alice@example.com", user_id=self.user_ids["alice@example.com"],
                     company_id=self.company_id, role="first-admin")

    def issuer_record(self, name: str | None = None) -> IssuerRecord:
        with self.runtime.sessionmaker() as session:
            query = select(IssuerRecord).where(IssuerRecord.name == (name or self.issuer_name or self.pki.issuer_name))
            return session.execute(query).scalar_one()

    def issuer_certificate(self, name: str | None = None) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.issuer_record(name).certificate_der)

    def issuer_key(self, name: str | None = None) -> ec.EllipticCurvePrivateKey:
        path = key_path(self.runtime.settings.ca.key_dir, name or self.issuer_name or self.pki.issuer_name)
        return load_private_key(path, PASSPHRASE)  # type: ignore[return-value]

    def save(self, name: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Holder:
        cert_file, key_file = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return Holder(certificate, key, cert_file, key_file)

    def issue(self, name: str, email: str, *, issuer_name: str | None = None) -> Holder:
        """A browser certificate through the real issuance path."""
        key = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
        issued = issue_certificate(self.runtime, OPERATOR, csr_data=csr.public_bytes(serialization.Encoding.PEM),
                                   user_email=email, issuer_name=issuer_name)
        return self.save(name, issued.certificate, key)

    def forge(self, name: str, *, issuer: x509.Certificate | None = None,
              issuer_key: ec.EllipticCurvePrivateKey | None = None, not_before: datetime | None = None,
              not_after: datetime | None = None, eku: tuple[x509.ObjectIdentifier, ...] | None = (
                  ExtendedKeyUsageOID.CLIENT_AUTH,), ca: bool = False, serial_number: int | None = None,
              self_signed: bool = False) -> Holder:
        """A certificate built by hand; signed by the session issuer unless told otherwise."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = self.runtime.clock.now()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Forged {name}")])
        if self_signed:
            issuer, issuer_key = None, key
        else:
            issuer = issuer or self.issuer_certificate()
            issuer_key = issuer_key or self.issuer_key()
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer.subject if issuer else subject)
                   .public_key(key.public_key()).serial_number(serial_number or random_serial_number())
                   .not_valid_before(not_before or now - timedelta(hours=1))
                   .not_valid_after(not_after or now + timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if issuer is not None:
            builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.public_key()), critical=False)  # type: ignore[arg-type]
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        return self.save(name, builder.sign(issuer_key, hashes.SHA256()), key)  # type: ignore[arg-type]

    def record(self, holder: Holder, *, email: str | None = "bob@example.com", status: str = "issued",
               profile: str = "browser", issuer_name: str | None = None) -> None:
        """Give a hand-made certificate its ledger row, as if we had issued it."""
        der = holder.der
        certificate = holder.certificate
        user_id = self.user_ids[email] if email else None
        with self.runtime.sessionmaker.begin() as session:
            session.add(CertificateRecord(
                issuer_id=self.issuer_record(issuer_name).id, serial=holder.serial, status=status,
                profile=profile, subject=certificate.subject.rfc4514_string(),
                not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc,
                der=der, sha256=hashlib.sha256(der).hexdigest(),
                spki_sha256=hashlib.sha256(certificate.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest(),
                user_id=user_id, company_id=self.company_id if user_id else None,
                created_at=self.runtime.clock.now()))

    def set_user(self, email: str, **values: object) -> None:
        with self.runtime.sessionmaker.begin() as session:
            user = session.execute(select(User).where(User.email == email)).scalar_one()
            for name, value in values.items():
                setattr(user, name, value)

    def other_company_id(self) -> int:
        with self.runtime.sessionmaker() as session:
            return session.execute(select(Company.id).where(Company.eic == OTHER_EIC)).scalar_one()


def build_world(runtime: Runtime, pki: SessionPKI, directory: Path, *, install_issuer: bool = True) -> World:
    """The company, its people and groups:
    - Traders (bob, alice): markets + capacity-auctions, perimeter PDL-001, PDL-002;
    - Metering (alice): metering, perimeter PDL-003;
    - Empty (frank): no service. carol is in no group."""
    from ca.lifecycle import issuers

    directory.mkdir(parents=True, exist_ok=True)
    if install_issuer:
        issuers.install_issuer(runtime, OPERATOR, name=pki.issuer_name, certificate=pki.issuer, root=pki.root)
    companies.create_company(runtime, OPERATOR, eic=EIC, name="Demo Producer")
    companies.create_company(runtime, OPERATOR, eic=OTHER_EIC, name="Other Company")
    for email, (full_name, role) in PEOPLE.items():
        accounts.create_user(runtime, OPERATOR, email=email, full_name=full_name, company_eic=EIC, role=role)
    world = World(runtime=runtime, pki=pki, directory=directory)
    with runtime.sessionmaker() as session:
        world.company_id = session.execute(select(Company.id).where(Company.eic == EIC)).scalar_one()
        world.user_ids = {u.email: u.id for u in session.execute(select(User)).scalars()}
    services.seed_services(runtime, OPERATOR)
    for code, label in POINTS.items():
        world.point_ids[code] = services.add_connection_point(runtime, OPERATOR, company_eic=EIC, code=code,
                                                              label=label).id
    admin, ids, points = world.admin(), world.user_ids, world.point_ids
    traders = groups.create_group(runtime, admin, name="Traders")
    groups.update_group(runtime, admin, group_id=traders.id, member_ids=[ids["bob@example.com"],
                                                                        ids["alice@example.com"]],
                        service_codes=["markets", "capacity-auctions"], point_ids=[points["PDL-001"],
                                                                                   points["PDL-002"]])
    metering = groups.create_group(runtime, admin, name="Metering")
    groups.update_group(runtime, admin, group_id=metering.id, member_ids=[ids["alice@example.com"]],
                        service_codes=["metering"], point_ids=[points["PDL-003"]])
    empty = groups.create_group(runtime, admin, name="Empty")
    groups.update_group(runtime, admin, group_id=empty.id, member_ids=[ids["frank@example.com"]])
    return world
