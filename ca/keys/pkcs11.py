"""CA keys on a PKCS#11 token (SoftHSM2 in tests): generated on the token, sensitive and non-extractable.

Key references are RFC 7512 URIs: `pkcs11:token=<label>;object=<label>`. The PIN comes from a file and the
module path from the settings; neither is ever part of the URI written to the ledger.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes

from ca.errors import BadRequestError, ConflictError, NotAuthorizedError, NotFoundError
from ca.x509.signer import KEY_TYPES, ca_public_key, hash_for

_CURVES = {"ec-p256": "secp256r1", "ec-p384": "secp384r1"}


@dataclass(frozen=True)
class KeyURI:
    token: str
    object: str

    def __str__(self) -> str:
        return f"pkcs11:token={self.token};object={self.object}"


def parse_key_uri(uri: str) -> KeyURI:
    if not uri.startswith("pkcs11:"):
        raise BadRequestError(f"not a PKCS#11 URI: {uri!r} (expected pkcs11:token=...;object=...)")
    attributes = {}
    for part in uri[len("pkcs11:"):].split("?", 1)[0].split(";"):
        name, _, value = part.partition("=")
        if name:
            attributes[name.strip()] = unquote(value.strip())
    if not attributes.get("token") or not attributes.get("object"):
        raise BadRequestError(f"PKCS#11 URI {uri!r} must name both token= and object=")
    return KeyURI(attributes["token"], attributes["object"])


_SESSIONS: dict[tuple[str, str], object] = {}
_SESSIONS_LOCK = threading.Lock()


def _open_session(module: str, uri: KeyURI, pin: str) -> Any:  # a python-pkcs11 Session (untyped library)
    """One logged-in session per (module, token) per process: PKCS#11 logins are per application."""
    with _SESSIONS_LOCK:
        session = _SESSIONS.get((module, uri.token))
        if session is None:
            session = _login(module, uri, pin)
            _SESSIONS[(module, uri.token)] = session
        return session


def _login(module: str, uri: KeyURI, pin: str) -> Any:
    import pkcs11

    try:
        lib = pkcs11.lib(module)
    except RuntimeError as exc:
        raise NotFoundError(f"cannot load PKCS#11 module {module}: {exc}") from None
    try:
        token = lib.get_token(token_label=uri.token)
    except (pkcs11.NoSuchToken, pkcs11.MultipleTokensReturned):
        raise NotFoundError(f"no single PKCS#11 token labelled {uri.token!r}") from None
    try:
        return token.open(user_pin=pin, rw=True)
    except pkcs11.PinIncorrect:
        raise NotAuthorizedError(f"wrong PIN for PKCS#11 token {uri.token!r}") from None


class PKCS11Signer:
    """A Signer whose private key never leaves the token; the library session is serialised by a lock."""

    def __init__(self, module: str, uri: KeyURI, pin: str) -> None:
        import pkcs11
        from pkcs11 import KeyType, ObjectClass

        self._session = _open_session(module, uri, pin)
        self._lock = threading.Lock()
        try:
            self._private = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=uri.object)
            public = self._session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=uri.object)
        except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned):
            raise NotFoundError(f"no single key pair labelled {uri.object!r} on token {uri.token!r}") from None
        if self._private.key_type == KeyType.EC:
            from pkcs11.util.ec import encode_ec_public_key

            der = encode_ec_public_key(public)
        else:
            from pkcs11.util.rsa import encode_rsa_public_key

            der = _rsa_spki(encode_rsa_public_key(public))
        self._public = ca_public_key(serialization.load_der_public_key(der))
        from ca.keys.filekey import key_type_of

        self._key_type = key_type_of(self._public)

    @property
    def key_type(self) -> str:
        return self._key_type

    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        return self._public

    def sign(self, data: bytes) -> bytes:
        from pkcs11 import Mechanism
        from pkcs11.util.ec import encode_ecdsa_signature

        if self._key_type.startswith("ec-"):
            # Raw CKM_ECDSA over our own digest: SoftHSM2 and many HSMs lack CKM_ECDSA_SHA256/384.
            digest = hashes.Hash(hash_for(self._key_type))
            digest.update(data)
            with self._lock:
                raw = self._private.sign(digest.finalize(), mechanism=Mechanism.ECDSA)
            return encode_ecdsa_signature(raw)
        with self._lock:
            return bytes(self._private.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))

    def sign_digest(self, digest: bytes) -> bytes:
        """`sign` over data of this `hash_for(key_type)` digest: raw CKM_ECDSA, or CKM_RSA_PKCS over the
        DigestInfo of RFC 8017 §9.2 (the same bytes CKM_SHA256_RSA_PKCS builds inside the token)."""
        from pkcs11 import Mechanism
        from pkcs11.util.ec import encode_ecdsa_signature

        if self._key_type.startswith("ec-"):
            with self._lock:
                raw = self._private.sign(digest, mechanism=Mechanism.ECDSA)
            return encode_ecdsa_signature(raw)
        with self._lock:
            return bytes(self._private.sign(_SHA256_DIGEST_INFO + digest, mechanism=Mechanism.RSA_PKCS))


_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")  # RFC 8017 §9.2 note 1


def _rsa_spki(pkcs1_der: bytes) -> bytes:
    """Wrap an RSAPublicKey (PKCS#1) in a SubjectPublicKeyInfo (RFC 3279 §2.3.1)."""
    from ca.x509.der import bit_string, sequence

    return sequence(bytes.fromhex("300d06092a864886f70d0101010500"), bit_string(pkcs1_der))


def generate_token_key(module: str, uri: KeyURI, pin: str, key_type: str) -> PKCS11Signer:
    """Generate a key pair on the token: private half sensitive, non-extractable, signing only."""
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    if key_type not in KEY_TYPES:
        raise BadRequestError(f"unknown key type {key_type!r}")
    session = _open_session(module, uri, pin)
    try:
        existing = list(session.get_objects({Attribute.LABEL: uri.object, Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
        if existing:
            raise ConflictError(f"token {uri.token!r} already holds a key labelled {uri.object!r}")
        private_template = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
                            Attribute.DECRYPT: False, Attribute.UNWRAP: False, Attribute.DERIVE: False}
        public_template = {Attribute.VERIFY: True, Attribute.ENCRYPT: False, Attribute.WRAP: False}
        if key_type in _CURVES:
            from pkcs11.util.ec import encode_named_curve_parameters

            params = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVES[key_type])}, local=True)
            params.generate_keypair(store=True, label=uri.object, private_template=private_template,
                                    public_template=public_template)
        else:
            session.generate_keypair(KeyType.RSA, int(key_type[4:]), store=True, label=uri.object,
                                     private_template=private_template,
                                     public_template={**public_template, Attribute.PUBLIC_EXPONENT: b"\x01\x00\x01"})
    except pkcs11.PKCS11Error as exc:
        raise BadRequestError(f"the token refused to generate the key: {type(exc).__name__}") from None
    return PKCS11Signer(module, uri, pin)

