"""The PKIError family: every error a user may see. Adapters map errors by class (walking the MRO), once each
(DESIGN §6); `kind` is the stable machine name shown in JSON errors.

str(error) is always safe to show to the person who caused it: no secrets, no stack traces.
Programmer misuse stays TypeError/ValueError and is never caught by the adapters' mapping.
"""

from __future__ import annotations


class PKIError(Exception):
    """Base of every error that carries a message meant for the caller."""

    kind: str = "error"


class BadRequestError(PKIError):
    """The input is wrong; retrying the same input will fail the same way."""

    kind = "bad_request"


class BadCSRError(BadRequestError):
    """The certificate signing request is refused (format, signature, key quality, blocked key)."""

    kind = "bad_csr"


class BadRevocationReasonError(BadRequestError):
    """The revocation reason is unknown or not allowed for this actor (RFC 5280 §5.3.1)."""

    kind = "bad_revocation_reason"


class UnauthenticatedError(PKIError):
    """Nobody is logged in (or the session ended): log in first."""

    kind = "unauthenticated"


class NotAuthorizedError(PKIError):
    """The actor may not do this, or the secret they gave (passphrase, password) is wrong."""

    kind = "not_authorized"


class NotFoundError(PKIError):
    """The object does not exist, or is not visible to this actor (same answer, no leak)."""

    kind = "not_found"


class NoLedgerError(NotFoundError):
    """The configured ledger does not exist yet (no SQLite file, no schema in the database): commands that
    need it refuse instead of creating an empty one; only `quickstart` and `db upgrade` create it."""


class ConflictError(PKIError):
    """The request contradicts the current state: already revoked, output file exists, duplicate."""

    kind = "conflict"


class SerialCollisionError(ConflictError):
    """The drawn serial is already the issuer's (the unique constraint said so): issuance draws again. Only
    this conflict is retried — any other one (a renewal already made, say) is the caller's answer."""


class LintError(PKIError):
    """The certificate that would result breaks RFC 5280 (pkilint findings): nothing was signed.

    An input that leads to a non-conforming certificate (an over-long name, say) is refused with 422; the
    message lists the findings."""

    kind = "lint_refused"


class SigningError(PKIError):
    """The key produced a signature that does not verify, or the signed bytes differ from the linted ones:
    such a certificate is never handed out (the error is the service's, not the caller's)."""

    kind = "signing_failed"


class ServiceUnavailableError(PKIError):
    """Something the request needs is down right now; retrying later may succeed (HTTP 503, OCSP tryLater)."""

    kind = "unavailable"


class LedgerUnavailableError(ServiceUnavailableError):
    """The ledger cannot be reached right now (database down, locked or gone)."""


class DeliveryError(ServiceUnavailableError):
    """A message could not be sent (SMTP or outbox): what was recorded stays, sending can be retried."""

    kind = "delivery_failed"


class TooManyRequestsError(PKIError):
    """An action that sends mail to someone else was repeated too often (HTTP 429, one CLI line)."""

    kind = "rate_limited"
