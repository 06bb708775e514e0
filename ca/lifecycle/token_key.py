"""The key that signs OAuth2 access tokens (RFC 9068 §2.1), managed like the CA's other keys: an EC P-256
key in an encrypted PKCS#8 file of `ca.key_dir`, under the CA passphrase (`ca.passphrase_file`), mode 0600,
never written in clear.

It is created on first use (the portal's first token) and audited. Several workers may start at once:
the key is written to a temporary file and linked into place, so exactly one key wins and nobody reads a
half-written file. Its public half is published as a JWKS (RFC 7517 §5) by the portal with a `kid`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ca.actor import SYSTEM
from ca.keys.filekey import load_private_key
from ca.ledger.audit import append_event
from ca.runtime import Runtime
from ca.secrets import read_passphrase

KEY_FILE = "oauth-token-signing.key.pem"
_CACHE: dict[Path, ec.EllipticCurvePrivateKey] = {}
_LOCK = threading.Lock()


def token_key_path(runtime: Runtime) -> Path:
    return runtime.settings.ca.key_dir / KEY_FILE


def _create(path: Path, passphrase: bytes) -> bool:
    """True when this process created the key; False when another one was first."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(passphrase))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temp, path)
        return True
    except FileExistsError:
        return False
    finally:
        Path(temp).unlink(missing_ok=True)


def token_signing_key(runtime: Runtime) -> ec.EllipticCurvePrivateKey:
    """The decrypted key, loaded once per process (created and audited if there is none yet)."""
    path = token_key_path(runtime)
    with _LOCK:
        key = _CACHE.get(path)
        if key is not None:
            return key
        passphrase = read_passphrase(runtime.settings.ca.passphrase_file)
        if not path.exists() and _create(path, passphrase):
            with runtime.sessionmaker.begin() as session:
                append_event(session, at=runtime.clock.now(), actor=SYSTEM.name, action="oauth.signing_key_created",
                             object_type="key", object_id=KEY_FILE, details={"key_type": "ec-p256"})
        loaded = load_private_key(path, passphrase)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise TypeError(f"{path} does not hold an EC key")
        _CACHE[path] = loaded
        return loaded
