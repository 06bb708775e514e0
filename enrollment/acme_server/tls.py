"""The ACME server's own HTTPS certificate (RFC 8555 §6.1: ACME runs over HTTPS), issued by our active
issuer through the ordinary pipeline at start when missing or near its end (enrollment.service_tls)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ca.actor import SYSTEM
from ca.runtime import Runtime
from enrollment.service_tls import ServiceCertificate, ensure_service_certificate


@dataclass(frozen=True)
class AcmeTLS:
    chain_file: Path
    key_file: Path
    key_passphrase: bytes
    issued_serial: str | None


def prepare_acme_tls(runtime: Runtime) -> AcmeTLS:
    settings = runtime.settings.acme
    passphrase, issued = ensure_service_certificate(runtime, SYSTEM, ServiceCertificate(
        settings.server_cert_file, settings.server_key_file, settings.server_key_passphrase_file,
        tuple(settings.server_name_list), "acme.server_names"))
    return AcmeTLS(settings.server_cert_file, settings.server_key_file, passphrase, issued)
