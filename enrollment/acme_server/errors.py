"""ACME problem documents (RFC 8555 §6.7, RFC 7807): every refusal names its ACME error type.

`AcmeError` is a PKIError, so its message is safe to show; the HTTP adapter turns it into
`application/problem+json` with the status given here.
"""

from __future__ import annotations

from typing import Any

from ca.errors import (
    BadCSRError,
    BadRequestError,
    ConflictError,
    LintError,
    NotAuthorizedError,
    NotFoundError,
    PKIError,
    ServiceUnavailableError,
)

PREFIX = "urn:ietf:params:acme:error:"


class AcmeError(PKIError):
    kind = "acme"

    def __init__(self, acme_type: str, detail: str, status: int = 400, *,
                 subproblems: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.acme_type = acme_type
        self.detail = detail
        self.status = status
        self.subproblems = subproblems or []
        self.headers = headers or {}
        self.extra = extra or {}  # further members of the problem document (e.g. `algorithms`, §6.2)
        # The accounts.Caller whose JWS verified although the request was refused before the caller was
        # returned (a badNonce signed by a registered account): lets the refusal be audited (refusals.py).
        self.verified_caller: Any = None

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": PREFIX + self.acme_type, "detail": self.detail, "status": self.status}
        if self.subproblems:
            body["subproblems"] = self.subproblems
        body.update(self.extra)
        return body


def malformed(detail: str) -> AcmeError:
    return AcmeError("malformed", detail)


def unauthorized(detail: str) -> AcmeError:
    return AcmeError("unauthorized", detail, 403)


def not_found(detail: str) -> AcmeError:
    return AcmeError("malformed", detail, 404)


def as_acme_error(error: PKIError) -> AcmeError:
    """Our other refusals in ACME's words (RFC 8555 §6.7): one mapping, by class."""
    if isinstance(error, AcmeError):
        return error
    if isinstance(error, (BadCSRError, LintError)):
        return AcmeError("badCSR", str(error))
    if isinstance(error, NotFoundError):
        return not_found(str(error))
    if isinstance(error, NotAuthorizedError):
        return unauthorized(str(error))
    if isinstance(error, ConflictError):
        return AcmeError("malformed", str(error), 409)
    if isinstance(error, ServiceUnavailableError):
        return AcmeError("serverInternal", str(error), 503, headers={"Retry-After": "5"})
    if isinstance(error, BadRequestError):
        return malformed(str(error))
    return AcmeError("serverInternal", str(error), 500)
