"""The JWS of an ACME request (RFC 8555 §6.2), parsed and verified with josepy: flattened JSON, one
signature, everything in the protected header, an allowed algorithm, exactly one of `jwk` and `kid`."""

from __future__ import annotations

import json
from dataclasses import dataclass

import josepy as jose
from acme import jws as acme_jws

from enrollment.acme_server import okp  # noqa: F401  (registers RFC 8037 OKP keys and EdDSA with josepy)
from enrollment.acme_server.errors import AcmeError, malformed

# RFC 8555 §6.2: MUST support ES256, SHOULD support EdDSA; RS256 for older clients.
ALGORITHMS = ("ES256", "ES384", "RS256", "EdDSA")
MAX_BODY = 64 * 1024
# What josepy's decoders raise on input of the wrong shape (a number where a base64 string belongs raises
# AttributeError, a missing member KeyError): every one is the client's error, answered `malformed`.
DECODE_ERRORS = (jose.DeserializationError, ValueError, TypeError, KeyError, AttributeError)


def bad_algorithm(alg: object) -> AcmeError:
    return AcmeError("badSignatureAlgorithm", f"signature algorithm {alg!r} is not supported; use one of "
                     + ", ".join(ALGORITHMS), extra={"algorithms": list(ALGORITHMS)})


@dataclass(frozen=True)
class SignedRequest:
    jws: jose.JWS
    payload: bytes
    nonce: str
    url: str
    jwk: jose.JWK | None
    kid: str | None

    def json_payload(self) -> dict[str, object]:
        """The payload as a JSON object; POST-as-GET (empty payload, §6.3) is refused here."""
        try:
            value = json.loads(self.payload)
        except ValueError:
            raise malformed("the JWS payload is not JSON") from None
        if not isinstance(value, dict):
            raise malformed("the JWS payload must be a JSON object")
        return value

    def verify(self, key: jose.JWK) -> None:
        """The algorithm must be one for the key's type (an RS256 header over an EC key is refused)."""
        alg = self.jws.signature.combined.alg
        try:
            ok = alg is not None and isinstance(key, alg.kty) and self.jws.verify(key)
        except (jose.Error, ValueError, TypeError, AttributeError):
            ok = False
        if not ok:
            raise malformed("the JWS signature does not verify with the account key")


def _protected_header(raw: dict[str, object]) -> dict[str, object]:
    protected = raw.get("protected")
    if not isinstance(protected, str):
        raise malformed("the JWS has no protected header")
    try:
        header = json.loads(jose.b64decode(protected))
    except (ValueError, TypeError):
        raise malformed("the JWS protected header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise malformed("the JWS protected header must be a JSON object")
    return header


def parse_request(body: bytes) -> SignedRequest:
    if len(body) > MAX_BODY:
        raise malformed(f"the request body is larger than {MAX_BODY // 1024} KiB")
    try:
        raw = json.loads(body)
    except ValueError:
        raise malformed("the request body is not JSON (expected a flattened JWS, RFC 8555 §6.2)") from None
    if not isinstance(raw, dict) or "signatures" in raw or raw.get("header"):
        raise malformed("expected a flattened JWS with one signature and only a protected header (RFC 8555 §6.2)")
    header = _protected_header(raw)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise bad_algorithm(alg)
    if ("jwk" in header) == ("kid" in header):
        raise malformed("the protected header must carry exactly one of jwk and kid (RFC 8555 §6.2)")
    if not isinstance(header.get("nonce"), str) or not header["nonce"]:
        raise AcmeError("badNonce", "the protected header has no nonce (RFC 8555 §6.5)")
    if not isinstance(header.get("url"), str):
        raise malformed("the protected header has no url (RFC 8555 §6.4)")
    try:
        parsed = acme_jws.JWS.from_json(raw)
    except DECODE_ERRORS as exc:
        raise malformed(f"the JWS cannot be read: {exc}") from None
    assert isinstance(parsed, jose.JWS)
    combined = parsed.signature.combined
    return SignedRequest(jws=parsed, payload=parsed.payload, nonce=str(header["nonce"]), url=str(header["url"]),
                         jwk=combined.jwk, kid=combined.kid)


def thumbprint(key: jose.JWK) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url: one account per key and the http-01 key authorization."""
    return jose.b64encode(key.thumbprint()).decode("ascii")


def load_jwk(text: str) -> jose.JWK:
    return jose.JWK.json_loads(text)
