"""http-01 validation (RFC 8555 §8.3): fetch the key authorization from the identifier's web server.

`acme.resolve` and `acme.http01_port` point validation at fixed addresses for tests and closed networks
(like Pebble's resolver option); they are not for production. Redirects are not followed: a validation
answers from the named host itself or fails.
"""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass

from ca.settings import AcmeSettings

MAX_BODY = 8192


@dataclass(frozen=True)
class Outcome:
    valid: bool
    error_type: str = ""
    detail: str = ""


def resolve(name: str, settings: AcmeSettings) -> str:
    fixed = settings.resolved_addresses.get(name)
    if fixed:
        return fixed
    return str(socket.getaddrinfo(name, settings.http01_port, type=socket.SOCK_STREAM)[0][4][0])


def validate_http01(name: str, token: str, key_authorization: str, settings: AcmeSettings) -> Outcome:
    """§8.3: GET http://<name>/.well-known/acme-challenge/<token>; the body must be the key authorization
    (trailing whitespace allowed)."""
    try:
        address = resolve(name, settings)
    except OSError as exc:
        return Outcome(False, "dns", f"cannot resolve {name}: {exc}")
    connection = http.client.HTTPConnection(address, settings.http01_port, timeout=settings.validation_timeout_seconds)
    try:
        connection.request("GET", f"/.well-known/acme-challenge/{token}", headers={"Host": name,
                                                                                   "User-Agent": "portail-acme"})
        response = connection.getresponse()
        body = response.read(MAX_BODY + 1)
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(False, "connection", f"cannot fetch http://{name}:{settings.http01_port}/: {exc}")
    finally:
        connection.close()
    if response.status != 200:
        return Outcome(False, "unauthorized", f"http://{name}/.well-known/acme-challenge/{token} answered "
                       f"{response.status}")
    if len(body) > MAX_BODY or body.decode("ascii", "replace").rstrip() != key_authorization:
        return Outcome(False, "incorrectResponse", "the challenge response is not the key authorization")
    return Outcome(True)
