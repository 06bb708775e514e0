"""In-process pkilint of a certificate before the CA key signs it (issue 2 §9: lint before signing).

Building the validator container is costly, so it is built once; one validation costs ~2 ms.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


@functools.cache
def _validator() -> Any:
    from pkilint.pkix import certificate, extension, name

    return certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )


@dataclass(frozen=True)
class LintFinding:
    """One pkilint finding: its code (e.g. `pkix.certificate_skid_extension_missing`), severity, where."""

    code: str
    severity: str
    path: str
    message: str | None

    def __str__(self) -> str:
        text = f"{self.severity} {self.code}" + (f": {self.message}" if self.message else "")
        return f"{text} @ {self.path}"


def lint_der(der_bytes: bytes) -> list[LintFinding]:
    """Every finding at WARNING or above in a DER certificate (pkilint's RFC 5280 certificate linter, the
    whole certificate). A certificate pkilint cannot decode raises pkilint's own error: the caller decides."""
    from pkilint import loader
    from pkilint.validation import ValidationFindingSeverity

    document = loader.RFC5280CertificateDocumentLoader().load_der_document(der_bytes, "tbs")
    findings = []
    for result in _validator().validate(document.root):
        for description in result.finding_descriptions:
            if description.finding.severity <= ValidationFindingSeverity.WARNING:
                findings.append(LintFinding(code=description.finding.code, severity=description.finding.severity.name,
                                            path=str(result.node.path), message=description.message))
    return findings


def lint_certificate(cert: x509.Certificate) -> list[str]:
    """Findings at WARNING or above (pkilint's RFC 5280 certificate linter), one string each."""
    from pkilint import loader
    from pkilint.validation import ValidationFindingSeverity

    document = loader.RFC5280CertificateDocumentLoader().load_der_document(
        cert.public_bytes(Encoding.DER), "tbs"
    )
    findings = []
    for result in _validator().validate(document.root):
        for description in result.finding_descriptions:
            if description.finding.severity <= ValidationFindingSeverity.WARNING:
                findings.append(f"{description} @ {result.node.path}")
    return findings
