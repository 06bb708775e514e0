"""Company administration of API applications (issue 12 item 1): register one (a secret shown once, or a
company certificate per RFC 8705 §2.1.2), list them, revoke one. Forms carry the CSRF token."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from enrollment.api_clients.registration import TlsBinding, create_api_client, list_api_clients, revoke_api_client
from enrollment.api_clients.scopes import SCOPES
from webapp.portal.auth import actor, admin_required, runtime

bp = Blueprint("api_clients", __name__, url_prefix="/admin/api-clients")


def _page(status: int = 200, **extra: object) -> tuple[str, int]:
    return render_template("admin/api_clients.html", clients=list_api_clients(runtime(), actor()), scopes=SCOPES,
                           **extra), status


@bp.get("")
@admin_required
def index() -> tuple[str, int]:
    return _page()


@bp.post("")
@admin_required
def create() -> tuple[str, int]:
    """The secret is rendered in this answer only (never redirected, never stored in clear; no-store)."""
    form = request.form
    tls = None
    if form.get("auth") == "tls_client_auth":
        pinned = form.get("tls_certificate", "").strip()
        tls = TlsBinding(subject_dn=form.get("tls_subject", "").strip() or None,
                         san_dns=form.get("tls_san_dns", "").strip() or None,
                         certificate=pinned.encode("ascii", "replace") if pinned else None)
    registration = create_api_client(runtime(), actor(), company_eic=None, name=form.get("name", ""),
                                     scope=" ".join(form.getlist("scope")), tls=tls)
    return _page(201, created=registration)


@bp.post("/<client_id>/revoke")
@admin_required
def revoke(client_id: str) -> Response:
    view = revoke_api_client(runtime(), actor(), client_id=client_id)
    flash(gettext("The application %(name)s was revoked: its tokens are refused from now on.", name=view.name),
          "success")
    return redirect(url_for("api_clients.index"))
