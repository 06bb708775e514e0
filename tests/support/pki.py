"""A PKI made at run time for the tests: an offline root (P-384) and an issuer (P-256) signed by it.

Made once per test session; every test installs the same issuer into its own fresh ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from ca import root as root_ca
from ca.issuer import create_issuer_key
from ca.x509.names import parse_dn

PASSPHRASE = b"test-passphrase-0123456789"
# A named instant: everything in the session PKI starts here.
T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class SessionPKI:
    base: Path
    root_dir: Path
    key_dir: Path
    passphrase_file: Path
    root: x509.Certificate
    issuer_name: str
    issuer: x509.Certificate

    @property
    def root_pem(self) -> Path:
        return self.root_dir / "root.crt"

    @property
    def issuer_pem(self) -> Path:
        return self.base / f"{self.issuer_name}.crt"


def make_session_pki(base: Path, issuer_name: str = "test-issuer") -> SessionPKI:
    from cryptography.hazmat.primitives.serialization import Encoding

    root_dir = base / "root-ca"
    key_dir = base / "keys"
    passphrase_file = base / "passphrase"
    passphrase_file.write_bytes(PASSPHRASE)
    root = root_ca.init_root(root_dir, subject=parse_dn("CN=Test Root CA,O=Portail Tests,C=FR"),
                             key_type="ec-p384", validity_years=20, passphrase=PASSPHRASE,
                             base_url="http://127.0.0.1:8080", now=T0)
    csr = create_issuer_key(key_dir, issuer_name, parse_dn("CN=Test Issuing CA,O=Portail Tests,C=FR"),
                            "ec-p256", PASSPHRASE)
    issuer = root_ca.sign_issuer(root_dir, csr_data=csr, passphrase=PASSPHRASE, validity_years=8, now=T0)
    pki = SessionPKI(base=base, root_dir=root_dir, key_dir=key_dir, passphrase_file=passphrase_file,
                     root=root, issuer_name=issuer_name, issuer=issuer)
    pki.issuer_pem.write_bytes(issuer.public_bytes(Encoding.PEM))
    return pki
