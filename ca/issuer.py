"""Online issuing CAs: a certificate and a Signer; key files live in `ca.key_dir` (encrypted PKCS#8)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes

from ca.errors import BadRequestError, ConflictError, NotFoundError
from ca.files import write_new_file
from ca.keys.filekey import FileSigner, generate_private_key, load_private_key, save_private_key
from ca.x509.signer import Signer, ca_public_key, hash_for


@dataclass(frozen=True)
class Issuer:
    id: int
    name: str
    status: str
    certificate: x509.Certificate
    root: x509.Certificate
    signer: Signer


def key_path(key_dir: Path, name: str) -> Path:
    return key_dir / f"{name}.key.pem"


def public_key_path(key_dir: Path, name: str) -> Path:
    return key_dir / f"{name}.pub.pem"


def check_issuer_name(name: str) -> str:
    """Names become file names and URL segments (/pki/ca/<name>.crt): keep them plain."""
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name) or not name[0].isalnum():
        raise BadRequestError(f"invalid issuer name {name!r}: use letters, digits, '-' and '_' (max 64)")
    return name


def create_issuer_key(key_dir: Path, name: str, subject: x509.Name, key_type: str, passphrase: bytes) -> bytes:
    """Generate the key (kept encrypted, 0600) and return a PEM CSR for the offline root to sign."""
    check_issuer_name(name)
    key = generate_private_key(key_type)
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hash_for(key_type))
    save_private_key(key_path(key_dir, name), key, passphrase)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_new_file(public_key_path(key_dir, name), public_pem)
    return csr.public_bytes(serialization.Encoding.PEM)


def key_uri_path(key_dir: Path, name: str) -> Path:
    return key_dir / f"{name}.key-uri"


def create_token_issuer_key(key_dir: Path, name: str, subject: x509.Name, key_type: str, key_uri: str, pin: str,
                            module: str) -> bytes:
    """Generate the issuer key on a PKCS#11 token; only its URI and public key are written to `key_dir`."""
    from ca.keys.pkcs11 import generate_token_key, parse_key_uri
    from ca.x509.csr_build import build_csr

    check_issuer_name(name)
    uri = parse_key_uri(key_uri)
    for path in (key_path(key_dir, name), key_uri_path(key_dir, name), public_key_path(key_dir, name)):
        if path.exists():
            raise ConflictError(f"refusing to overwrite existing file {path}")
    signer = generate_token_key(module, uri, pin, key_type)
    csr = build_csr(subject, signer)
    write_new_file(key_uri_path(key_dir, name), f"{uri}\n".encode())
    write_new_file(public_key_path(key_dir, name), signer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return csr.public_bytes(serialization.Encoding.PEM)


def issuer_key_ref(key_dir: Path, name: str) -> str:
    """`pkcs11:...` when the key was made on a token, else `file:<absolute path>`."""
    uri_file = key_uri_path(key_dir, name)
    if uri_file.exists():
        return uri_file.read_text().strip()
    return f"file:{key_path(key_dir, name).resolve()}"


def csr_for_existing_key(key_dir: Path, name: str, subject: x509.Name, passphrase: bytes) -> bytes:
    """A new PEM CSR for a key made earlier (a ceremony that stopped before the root signed it)."""
    check_issuer_name(name)
    key = load_private_key(key_path(key_dir, name), passphrase)
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hash_for(FileSigner(key).key_type))
    return csr.public_bytes(serialization.Encoding.PEM)


def same_key(a: CertificateIssuerPublicKeyTypes, b: CertificateIssuerPublicKeyTypes) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*fmt) == b.public_bytes(*fmt)


def check_issuer_certificate(cert: x509.Certificate, root: x509.Certificate, key_dir: Path, name: str) -> None:
    """Refuse to install anything but a CA certificate signed by `root` for the key we generated."""
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature) as exc:  # InvalidSignature has no message
        raise BadRequestError(f"the issuer certificate is not signed by the given root ({exc or 'bad signature'})") \
            from None
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise BadRequestError("the issuer certificate has no basicConstraints") from None
    if not constraints.ca:
        raise BadRequestError("the issuer certificate is not a CA certificate (CA:FALSE)")
    try:
        expected = ca_public_key(serialization.load_pem_public_key(public_key_path(key_dir, name).read_bytes()))
    except FileNotFoundError:
        raise NotFoundError(f"no key for issuer {name!r} in {key_dir}: run `pkictl issuer create` first") from None
    if not same_key(ca_public_key(cert.public_key()), expected):
        raise BadRequestError(f"the certificate's public key is not the key of issuer {name!r}")


def load_signer(key_ref: str, *, passphrase: bytes | None = None, pin: str | None = None,
                module: str | None = None) -> Signer:
    """`file:<path>` (encrypted PKCS#8, unlocked by the passphrase) or a `pkcs11:` URI (unlocked by the PIN)."""
    scheme, _, rest = key_ref.partition(":")
    if scheme == "file":
        if passphrase is None:
            raise BadRequestError("a key file needs its passphrase")
        return FileSigner.from_file(Path(rest), passphrase)
    if scheme == "pkcs11":
        from ca.keys.pkcs11 import PKCS11Signer, parse_key_uri
        from ca.secrets import DEFAULT_PKCS11_MODULE

        if not pin:
            raise BadRequestError("a PKCS#11 key needs a PIN (setting ca.pkcs11_pin_file)")
        return PKCS11Signer(module or DEFAULT_PKCS11_MODULE, parse_key_uri(key_ref), pin)
    raise BadRequestError(f"unsupported key reference {key_ref!r}")


def load_certificate_file(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"certificate file not found: {path}") from None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise BadRequestError(f"{path} is not an X.509 certificate (PEM or DER)") from None
