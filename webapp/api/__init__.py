"""JSON API under /api/v1/: the portal's use cases for programs (issue 4 §JSON API), described by
/api/v1/openapi.json (OpenAPI 3.1).

Authentication: the portal's session cookie (then state-changing calls carry the CSRF token from
GET /api/v1/me in `X-CSRF-Token`), a client certificate of the `browser` profile forwarded by the TLS
terminator, or an OAuth2 access token (`Authorization: Bearer`, webapp.oauth.bearer, scopes per route).
Errors are {"error": {"kind", "message"}} with the status of webapp.errors.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, request, session, url_for
from flask_wtf.csrf import CSRFError, generate_csrf
from werkzeug.wrappers import Request as WerkzeugRequest
from werkzeug.wrappers import Response

from ca.certificate_lists import page_company_certificates, page_my_certificates
from ca.certificates import CertificateFilter
from ca.errors import BadRequestError
from ca.revoke import revoke_certificate
from ca.x509.pem import pem_encode
from enrollment.accounts.activation import invite_user
from enrollment.accounts.member_lists import page_members
from enrollment.accounts.members import detach_user
from enrollment.accounts.views import Principal
from enrollment.groups.groups import create_group, delete_group, get_group, groups_page, update_group
from enrollment.requests.approval import decide_request, request_certificate
from enrollment.requests.downloads import get_certificate
from enrollment.requests.renewal import renew_with_csr
from enrollment.requests.request_lists import page_company_requests, page_my_requests
from enrollment.requests.views import RequestOutcome
from webapp.api.csrf_header import check_csrf_header
from webapp.api.openapi import openapi_document
from webapp.listing import envelope, page_request
from webapp.oauth.bearer import authenticate_bearer, bearer_requested
from webapp.oauth.openapi import document_bearer
from webapp.portal.auth import (
    ID,
    actor,
    admin_required,
    load_certificate_principal,
    login_required,
    member_required,
    principal,
    runtime,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def create_api_blueprint() -> Blueprint:
    return bp


def cross_site(call: WerkzeugRequest) -> bool:
    """A browser says where a request comes from (Fetch Metadata, Origin); programs send neither.

    A browser holding a client certificate presents it to any page that POSTs here, like a cookie, so a
    certificate-authenticated call is refused when it comes from another site (ASVS 3.5.x).
    """
    if call.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = call.headers.get("Origin")
    return origin is not None and origin != f"{call.scheme}://{call.host}"


@bp.before_request
def _authenticate() -> Response | None:
    if bearer_requested():  # an OAuth2 access token (webapp.oauth.bearer): no cookie, no CSRF to check
        return authenticate_bearer()
    load_certificate_principal()
    if request.method in SAFE_METHODS:
        return None
    if cross_site(request):
        raise CSRFError("cross-site request refused")
    if g.get("auth_method") == "session":
        check_csrf_header(current_app, session, request.headers.get("X-CSRF-Token"))
    return None


MAX_JSON_DEPTH = 32


def _depth(value: Any) -> int:
    """How deeply a decoded body nests, without recursion (bodies are at most MAX_UPLOAD_BYTES)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def _body() -> dict[str, Any]:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # the decoder recurses per level: a body of 100k "[" must be a 400, not a 500
        raise BadRequestError(f"the request body nests too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    return body_object(data)


def body_object(data: Any) -> dict[str, Any]:
    """The decoded body as the API takes it: a JSON object nested at most MAX_JSON_DEPTH levels."""
    if isinstance(data, dict) and _depth(data) > MAX_JSON_DEPTH:
        raise BadRequestError(f"the request body nests too deeply (at most {MAX_JSON_DEPTH} levels)")
    if not isinstance(data, dict):
        raise BadRequestError("the request body must be a JSON object")
    return data


def _text(data: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadRequestError(f"{key} must be a string")
    return value


def _id_list(data: dict[str, Any], key: str) -> list[int] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise BadRequestError(f"{key} must be a list of integers")
    return value


def _days(name: str) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequestError(f"{name} must be an integer") from None


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document_bearer(openapi_document(), current_app.url_map, url_for("oauth.token")))


@bp.get("/me")
@login_required
def me() -> Response:
    current = principal()
    assert current is not None
    data = current.to_dict()
    data["csrf_token"] = generate_csrf() if g.get("auth_method") == "session" else None
    return jsonify(data)


@bp.get("/certificates")
@login_required
def certificates() -> Response:
    return jsonify(envelope(page_my_certificates(runtime(), actor(), page_request(request.args))))


@bp.get("/certificates/<serial>")
@login_required
def certificate(serial: str) -> Response:
    view = get_certificate(runtime(), actor(), serial=serial)
    data = view.to_dict()
    data["pem"] = pem_encode(view.der, "CERTIFICATE").decode("ascii") if view.der else None
    return jsonify(data)


@bp.post("/certificates/<serial>/revoke")
@login_required
def revoke(serial: str) -> Response:
    reason = _text(_body(), "reason")
    return jsonify(revoke_certificate(runtime(), actor(), serial=serial, reason=reason or "").to_dict())


@bp.post("/certificates/<serial>/renew")
@member_required
def renew(serial: str) -> tuple[Response, int]:
    """A successor from a CSR (the browser-key page posts its CSR here too), without a new approval."""
    csr = _text(_body(), "csr") or ""
    renewal = renew_with_csr(runtime(), actor(), serial=serial, csr_data=csr.encode("utf-8", "replace"))
    view = get_certificate(runtime(), actor(), serial=renewal.successor)
    data = view.to_dict()
    data["pem"] = (renewal.pem or b"").decode("ascii")
    return jsonify(data), 201


@bp.get("/requests")
@login_required
def requests() -> Response:
    return jsonify(envelope(page_my_requests(runtime(), actor(), page_request(request.args))))


@bp.post("/requests")
@member_required
def new_request() -> tuple[Response, int]:
    """A CSR upload. Calls of a live session are answered by webapp.api.upload_fast_path with the same
    functions (upload_csr, upload_answer), this view for every other caller."""
    csr = upload_csr(_body())
    current = principal()  # a person's, read in this request: its policy needs no second read
    outcome = request_certificate(runtime(), actor(), csr_data=csr,
                                  requester=current if isinstance(current, Principal) else None)
    return jsonify(upload_answer(outcome)), 201


def upload_csr(data: dict[str, Any]) -> bytes:
    """The CSR of an upload's body (PEM text, or anything check_csr then refuses with its reason)."""
    return (_text(data, "csr") or "").encode("utf-8", "replace")


def upload_answer(outcome: RequestOutcome) -> dict[str, Any]:
    """The 201 body of an upload: the request as recorded and, under the `auto` policy, its certificate."""
    return {"request": outcome.request.to_dict(), "certificate_serial": outcome.serial}


@bp.get("/company/certificates")
@admin_required
def company_certificates() -> Response:
    filters = CertificateFilter(user_email=request.args.get("user") or None,
                                status=request.args.get("status") or None,
                                expiring_days=_days("expiring_days"), unused_days=_days("unused_days"))
    return jsonify(envelope(page_company_certificates(runtime(), actor(), filters, page_request(request.args))))


@bp.get("/company/requests")
@admin_required
def company_requests() -> Response:
    page = page_company_requests(runtime(), actor(), page_request(request.args),
                                 status=request.args.get("status") or "pending")
    return jsonify(envelope(page))


@bp.post(f"/company/requests/<{ID}:request_id>/approve")
@admin_required
def approve(request_id: int) -> Response:
    comment = _text(_body(), "comment", required=False)
    return jsonify(decide_request(runtime(), actor(), request_id=request_id, approve=True,
                                  comment=comment).to_dict())


@bp.post(f"/company/requests/<{ID}:request_id>/reject")
@admin_required
def reject(request_id: int) -> Response:
    comment = _text(_body(), "comment")
    return jsonify(decide_request(runtime(), actor(), request_id=request_id, approve=False,
                                  comment=comment).to_dict())


@bp.get("/company/users")
@admin_required
def users() -> Response:
    return jsonify(envelope(page_members(runtime(), actor(), page_request(request.args))))


@bp.post("/company/users")
@admin_required
def new_user() -> tuple[Response, int]:
    data = _body()
    invitation = invite_user(runtime(), actor(), email=_text(data, "email") or "",
                             full_name=_text(data, "full_name") or "",
                             role=_text(data, "role", required=False) or "user")
    return jsonify({"user": invitation.member.to_dict(), "activation_mail_sent": invitation.mail_sent,
                    "link_expires_at": invitation.expires_at.isoformat()}), 201


@bp.post(f"/company/users/<{ID}:user_id>/detach")
@admin_required
def detach(user_id: int) -> Response:
    report = detach_user(runtime(), actor(), user_id=user_id)
    return jsonify({"user": report.member.to_dict(), "revoked": report.revoked})


@bp.get("/company/groups")
@admin_required
def groups() -> Response:
    return jsonify([v.to_dict() for v in groups_page(runtime(), actor()).groups])


@bp.post("/company/groups")
@admin_required
def new_group() -> tuple[Response, int]:
    return jsonify(create_group(runtime(), actor(), name=_text(_body(), "name") or "").to_dict()), 201


@bp.get(f"/company/groups/<{ID}:group_id>")
@admin_required
def group(group_id: int) -> Response:
    return jsonify(get_group(runtime(), actor(), group_id=group_id).to_dict())


@bp.patch(f"/company/groups/<{ID}:group_id>")
@admin_required
def edit_group(group_id: int) -> Response:
    data = _body()
    services = data.get("services")
    if services is not None and (not isinstance(services, list) or not all(isinstance(s, str) for s in services)):
        raise BadRequestError("services must be a list of service codes")
    view = update_group(runtime(), actor(), group_id=group_id, name=_text(data, "name", required=False),
                        member_ids=_id_list(data, "members"), service_codes=services,
                        point_ids=_id_list(data, "perimeter"))
    return jsonify(view.to_dict())


@bp.delete(f"/company/groups/<{ID}:group_id>")
@admin_required
def remove_group(group_id: int) -> tuple[str, int]:
    delete_group(runtime(), actor(), group_id=group_id)
    return "", 204
