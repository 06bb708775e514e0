"""Certificate templates: what each kind of certificate contains (RFC 5280 §4.2, BR §7.1.2).

Subject and extensions come from here and from the ledger, never from the CSR: a CSR asking for CA:TRUE
still gets CA:FALSE because nothing of its extension request is read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from ca.errors import BadRequestError
from ca.x509 import repository_paths as paths

_EKU = {
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING,
}


@dataclass(frozen=True)
class Profile:
    name: str
    extended_key_usage: tuple[str, ...]
    key_usage: tuple[str, ...]
    rsa_key_encipherment: bool
    ocsp_nocheck: bool
    default_days: int
    max_days: int


def load_profile(name: str, profiles: Mapping[str, Mapping[str, Any]]) -> Profile:
    if name not in profiles:
        raise BadRequestError(f"unknown profile {name!r}; choose one of {', '.join(sorted(profiles))}")
    raw = profiles[name]
    return Profile(
        name=name,
        extended_key_usage=tuple(raw["extended_key_usage"]),
        key_usage=tuple(raw["key_usage"]),
        rsa_key_encipherment=bool(raw.get("rsa_key_encipherment", False)),
        ocsp_nocheck=bool(raw.get("ocsp_nocheck", False)),
        default_days=int(raw["default_days"]),
        max_days=int(raw["max_days"]),
    )


@dataclass(frozen=True)
class RepositoryURLs:
    """Where relying parties fetch what a certificate points to (DESIGN §8)."""

    ca_issuers: str
    ocsp: str | None
    crl: str | None


def _key_usage(names: Sequence[str], is_ca: bool) -> x509.KeyUsage:
    flags = set(names)
    return x509.KeyUsage(
        digital_signature="digitalSignature" in flags,
        content_commitment=False,
        key_encipherment="keyEncipherment" in flags,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=is_ca,
        crl_sign=is_ca,
        encipher_only=False,
        decipher_only=False,
    )


def _aia(urls: RepositoryURLs) -> x509.AuthorityInformationAccess:
    descriptions = []
    if urls.ocsp:
        descriptions.append(
            x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp))
        )
    descriptions.append(
        x509.AccessDescription(
            x509.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(urls.ca_issuers)
        )
    )
    return x509.AuthorityInformationAccess(descriptions)


def _cdp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
    )


def _base(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: CertificateIssuerPublicKeyTypes,
    serial_number: int,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial_number)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def root_builder(
    subject: x509.Name, public_key: CertificateIssuerPublicKeyTypes, serial_number: int,
    not_before: datetime, not_after: datetime,
) -> x509.CertificateBuilder:
    """Self-signed trust anchor: CA:TRUE critical, keyCertSign+cRLSign critical, SKI (RFC 5280 §4.2.1.9).

    The AKI repeats the SKI: RFC 5280 §4.2.1.1 lets a self-signed root omit it, but pkilint requires it and
    it costs nothing.
    """
    return (
        _base(subject, subject, public_key, serial_number, not_before, not_after)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage((), is_ca=True), critical=True)
    )


def issuer_builder(
    subject: x509.Name, public_key: CertificateIssuerPublicKeyTypes, root: x509.Certificate,
    serial_number: int, not_before: datetime, not_after: datetime, root_crl_url: str, root_cert_url: str,
) -> x509.CertificateBuilder:
    """Issuing CA: pathLen 0 (it signs only end entities), AKI, CDP = root CRL, AIA caIssuers = root."""
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        _base(subject, root.subject, public_key, serial_number, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage((), is_ca=True), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
        .add_extension(_cdp(root_crl_url), critical=False)
        .add_extension(_aia(RepositoryURLs(ca_issuers=root_cert_url, ocsp=None, crl=None)), critical=False)
    )


def cross_builder(
    subject: x509.Name, public_key: CertificateIssuerPublicKeyTypes, subject_ski: x509.SubjectKeyIdentifier,
    issuer_root: x509.Certificate, serial_number: int, not_before: datetime, not_after: datetime,
    issuer_crl_url: str, issuer_cert_url: str,
) -> x509.CertificateBuilder:
    """Cross-certificate of another root: CA:TRUE without pathLen (the other root's issuers sit below it),
    its own SKI kept so chains link, AKI/CDP/AIA of the signing root."""
    issuer_ski = issuer_root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_root.subject)
        .public_key(public_key)
        .serial_number(serial_number)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(subject_ski, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage((), is_ca=True), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
        .add_extension(_cdp(issuer_crl_url), critical=False)
        .add_extension(_aia(RepositoryURLs(ca_issuers=issuer_cert_url, ocsp=None, crl=None)), critical=False)
    )


def _subject_alt_name(
    profile: Profile, emails: Sequence[str], dns_names: Sequence[str]
) -> x509.SubjectAlternativeName | None:
    names: list[x509.GeneralName] = [x509.RFC822Name(e) for e in emails]
    for dns in dns_names:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(dns)))
        except ValueError:
            names.append(x509.DNSName(dns))
    if profile.name == "tls-server" and not dns_names:
        raise BadRequestError("a tls-server certificate needs at least one DNS name or IP address")
    return x509.SubjectAlternativeName(names) if names else None


def leaf_builder(
    profile: Profile, subject: x509.Name, public_key: CertificateIssuerPublicKeyTypes, issuer: x509.Certificate,
    serial_number: int, not_before: datetime, not_after: datetime, urls: RepositoryURLs,
    emails: Sequence[str] = (), dns_names: Sequence[str] = (),
) -> x509.CertificateBuilder:
    """End-entity certificate of `profile`; the responder profile omits CDP/AIA-OCSP (BR §7.1.2.8)."""
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    usages = list(profile.key_usage)
    if profile.rsa_key_encipherment and isinstance(public_key, rsa.RSAPublicKey):
        usages.append("keyEncipherment")
    builder = (
        _base(subject, issuer.subject, public_key, serial_number, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(usages, is_ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([_EKU[u] for u in profile.extended_key_usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
    )
    san = _subject_alt_name(profile, emails, dns_names)
    if san is not None:
        # RFC 5280 §4.2.1.6: critical only when the subject is empty.
        builder = builder.add_extension(san, critical=len(subject) == 0)
    if profile.ocsp_nocheck:
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        return builder.add_extension(
            _aia(RepositoryURLs(ca_issuers=urls.ca_issuers, ocsp=None, crl=None)), critical=False
        )
    builder = builder.add_extension(_aia(urls), critical=False)
    if urls.crl:
        builder = builder.add_extension(_cdp(urls.crl), critical=False)
    return builder


def repository_urls(base_url: str, issuer_name: str) -> RepositoryURLs:
    """The public URLs of DESIGN §8 that go into issued certificates' AIA and CDP."""
    return RepositoryURLs(
        ca_issuers=paths.absolute(base_url, paths.issuer_certificate(issuer_name)),
        ocsp=paths.absolute(base_url, paths.OCSP),
        crl=paths.absolute(base_url, paths.crl(issuer_name)),
    )


def root_urls(base_url: str) -> tuple[str, str]:
    """(root CRL URL, root certificate URL) written into issuer certificates."""
    return paths.absolute(base_url, paths.ROOT_CRL), paths.absolute(base_url, paths.ROOT_CERTIFICATE)
