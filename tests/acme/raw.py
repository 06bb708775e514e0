"""A bare ACME client for the protocol-level tests: josepy/acme sign the JWS, urllib sends them over TLS
trusting only our root. It lets a test do what a well-behaved client never does (replay a nonce, omit EAB)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import josepy as jose
from acme import jws as acme_jws
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.acme.conftest import AcmeWorld


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def problem_type(self) -> str:
        return str(self.json().get("type", "")).removeprefix("urn:ietf:params:acme:error:")


def new_key(kind: str = "ec") -> tuple[jose.JWK, jose.JWASignature]:
    if kind == "rsa":
        return jose.JWKRSA(key=rsa.generate_private_key(65537, 2048)), jose.RS256
    return jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1())), jose.ES256


@dataclass
class RawClient:
    world: AcmeWorld
    key: jose.JWK = field(default_factory=lambda: new_key()[0])
    alg: jose.JWASignature = jose.ES256
    kid: str | None = None

    def __post_init__(self) -> None:
        self.context = ssl.create_default_context(cafile=str(self.world.root_pem))
        self.directory = self.get(self.world.directory).json()

    def _send(self, request: urllib.request.Request) -> Reply:
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as response:
                return Reply(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read())

    def get(self, url: str, method: str = "GET") -> Reply:
        return self._send(urllib.request.Request(url, method=method))

    def nonce(self) -> str:
        return self.get(self.directory["newNonce"], "HEAD").headers["Replay-Nonce"]

    def sign(self, url: str, payload: Any, *, nonce: str | None = None, embed: bool = False,
             key: jose.JWK | None = None, alg: jose.JWASignature | None = None) -> bytes:
        data = b"" if payload is None else json.dumps(payload).encode()
        kid = None if embed else self.kid
        signed = acme_jws.JWS.sign(data, key=key or self.key, alg=alg or self.alg,
                                   nonce=jose.decode_b64jose(nonce or self.nonce()), url=url, kid=kid)
        return signed.json_dumps().encode()

    def post_body(self, url: str, body: bytes) -> Reply:
        return self._send(urllib.request.Request(url, data=body, method="POST",
                                                 headers={"Content-Type": "application/jose+json"}))

    def post(self, url: str, payload: Any, **kwargs: Any) -> Reply:
        return self.post_body(url, self.sign(url, payload, **kwargs))

    def eab(self, kid: str, hmac_key: str) -> dict[str, Any]:
        url = self.directory["newAccount"]
        public = self.key.public_key().json_dumps().encode()
        signed = acme_jws.JWS.sign(public, key=jose.JWKOct(key=jose.b64decode(hmac_key)), alg=jose.HS256,
                                   nonce=None, url=url, kid=kid)
        return signed.to_json()

    def register(self, *, with_eab: bool = True) -> Reply:
        payload: dict[str, Any] = {"termsOfServiceAgreed": True, "contact": ["mailto:ops@example.test"]}
        if with_eab:
            payload["externalAccountBinding"] = self.eab(self.world.eab.kid, self.world.eab.hmac_key)
        reply = self.post(self.directory["newAccount"], payload, embed=True)
        if reply.status in (200, 201):
            self.kid = reply.headers["Location"]
        return reply

    def order(self, *names: str) -> Reply:
        return self.post(self.directory["newOrder"], {"identifiers": [{"type": "dns", "value": n} for n in names]})
