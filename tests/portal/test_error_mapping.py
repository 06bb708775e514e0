"""The web adapter maps errors by class, walking the MRO (DESIGN §6): a subclass gets its parent's status
unless it has its own; unavailability is a 503 with Retry-After; nothing mapped is a bare 500 without detail."""

from __future__ import annotations

import pytest
from flask import Blueprint

from ca import errors

CASES = [
    (errors.BadRequestError("bad input"), 400, "bad_request"),
    (errors.BadCSRError("bad csr"), 400, "bad_csr"),  # a subclass inherits its parent's status
    (errors.BadRevocationReasonError("bad reason"), 400, "bad_revocation_reason"),
    (errors.UnauthenticatedError("log in"), 401, "unauthenticated"),
    (errors.NotAuthorizedError("no"), 403, "not_authorized"),
    (errors.NotFoundError("nothing"), 404, "not_found"),
    (errors.ConflictError("already"), 409, "conflict"),
    (errors.LintError("linter says no"), 422, "lint_refused"),
    (errors.SigningError("bad signature"), 503, "signing_failed"),
    (errors.LedgerUnavailableError("ledger down"), 503, "unavailable"),
    (errors.DeliveryError("smtp down"), 503, "delivery_failed"),
]


class _Unmapped(errors.PKIError):
    kind = "unmapped"


@pytest.fixture
def raising_client(app):
    bp = Blueprint("raise_for_test", __name__)

    @bp.get("/api/v1/test-raise/<int:index>")
    def raise_case(index: int) -> str:
        if index == len(CASES):
            raise _Unmapped("internal detail that must not leak")
        raise CASES[index][0]

    app.register_blueprint(bp)
    return app.test_client()


@pytest.mark.parametrize("index", range(len(CASES)))
def test_errors_map_by_class(raising_client, index):
    error, status, kind = CASES[index]
    response = raising_client.get(f"/api/v1/test-raise/{index}")
    assert response.status_code == status
    assert response.json == {"error": {"kind": kind, "message": str(error)}}
    assert ("Retry-After" in response.headers) == (status == 503)


def test_an_unmapped_error_is_a_500_without_detail(raising_client):
    response = raising_client.get(f"/api/v1/test-raise/{len(CASES)}")
    assert response.status_code == 500
    assert "internal detail" not in response.get_data(as_text=True)
