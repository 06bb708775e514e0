"""Company administration: people, groups, requests, certificates, unused certificates, audit trail."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from flask import Blueprint, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from ca.audit_lists import page_company_audit_trail
from ca.certificate_lists import export_company_certificates, page_company_certificates
from ca.certificates import CertificateFilter, CertificateView
from ca.dashboard import company_dashboard
from ca.errors import BadRequestError
from enrollment.accounts.activation import invite_user, resend_activation
from enrollment.accounts.member_lists import page_members
from enrollment.accounts.members import decide_membership, detach_user, preview_detach
from enrollment.acme_server.eab import create_eab
from enrollment.acme_server.overview import company_acme
from enrollment.acme_server.urls import Urls
from enrollment.groups.groups import create_group, delete_group, get_group, groups_page, update_group
from enrollment.requests.approval import decide_request, set_approval_policy
from enrollment.requests.request_lists import page_company_requests
from revocation.unused import preview_unused, revoke_confirmed_unused
from webapp.listing import page_request
from webapp.portal.auth import ID, actor, admin_required, first_admin_required, principal, runtime
from webapp.portal.wording import status_word

bp = Blueprint("admin", __name__, url_prefix="/admin")

CSV_COLUMNS = ("serial", "status", "user", "subject", "not_before", "not_after", "last_used_at", "revoked_at",
               "revocation_reason", "issuer", "sha256")


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequestError(f"{name.replace('_', ' ')} must be a number of days") from None


def _ints(values: list[str], what: str) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise BadRequestError(f"invalid {what}") from None


@bp.get("/users")
@admin_required
def users() -> str:
    current = principal()
    roles = ("user", "admin") if current is not None and current.is_first_admin else ("user",)
    page = page_members(runtime(), actor(), page_request(request.args))
    return render_template("admin/users.html", members=page.items, page=page, args=request.args, roles=roles)


@bp.post("/users")
@admin_required
def invite() -> Response:
    form = request.form
    invitation = invite_user(runtime(), actor(), email=form.get("email", ""), full_name=form.get("full_name", ""),
                             role=form.get("role", "user"))
    if invitation.mail_sent:
        flash(gettext("%(email)s was added and received an activation link.", email=invitation.member.email), "success")
    else:
        flash(gettext("%(email)s was added, but the e-mail could not be sent: use Re-send later.",
                      email=invitation.member.email), "error")
    return redirect(url_for("admin.users"))


@bp.post(f"/users/<{ID}:user_id>/resend")
@admin_required
def resend(user_id: int) -> Response:
    invitation = resend_activation(runtime(), actor(), user_id=user_id)
    flash(gettext("A new activation link was sent to %(email)s.", email=invitation.member.email), "success")
    return redirect(url_for("admin.users"))


@bp.post(f"/users/<{ID}:user_id>/approve")
@admin_required
def approve_member(user_id: int) -> Response:
    view = decide_membership(runtime(), actor(), user_id=user_id, approve=True)
    flash(gettext("%(email)s is now a member of the company.", email=view.email), "success")
    return redirect(url_for("admin.users"))


@bp.post(f"/users/<{ID}:user_id>/refuse")
@admin_required
def refuse_member(user_id: int) -> Response:
    view = decide_membership(runtime(), actor(), user_id=user_id, approve=False)
    flash(gettext("%(email)s was not admitted.", email=view.email), "info")
    return redirect(url_for("admin.users"))


@bp.get(f"/users/<{ID}:user_id>/detach")
@admin_required
def detach_form(user_id: int) -> str:
    member, serials = preview_detach(runtime(), actor(), user_id=user_id)
    return render_template("admin/detach.html", member=member, serials=serials)


@bp.post(f"/users/<{ID}:user_id>/detach")
@admin_required
def detach(user_id: int) -> Response:
    report = detach_user(runtime(), actor(), user_id=user_id)
    flash(gettext("%(email)s left the company; %(count)s certificate(s) revoked.", email=report.member.email,
                  count=len(report.revoked)), "success")
    return redirect(url_for("admin.users"))


@bp.get("/groups")
@admin_required
def groups() -> str:
    return render_template("admin/groups.html", page=groups_page(runtime(), actor()))


@bp.post("/groups")
@admin_required
def new_group() -> Response:
    view = create_group(runtime(), actor(), name=request.form.get("name", ""))
    flash(gettext("Group %(name)s created: now choose its members, services and perimeter.", name=view.name), "success")
    return redirect(url_for("admin.group", group_id=view.id))


@bp.get(f"/groups/<{ID}:group_id>")
@admin_required
def group(group_id: int) -> str:
    return render_template("admin/group.html", group=get_group(runtime(), actor(), group_id=group_id),
                           page=groups_page(runtime(), actor()))


@bp.post(f"/groups/<{ID}:group_id>")
@admin_required
def edit_group(group_id: int) -> Response:
    form = request.form
    view = update_group(runtime(), actor(), group_id=group_id, name=form.get("name"),
                        member_ids=_ints(form.getlist("members"), "member"),
                        service_codes=form.getlist("services"),
                        point_ids=_ints(form.getlist("points"), "connection point"))
    flash(gettext("Group %(name)s saved.", name=view.name), "success")
    return redirect(url_for("admin.group", group_id=group_id))


@bp.post(f"/groups/<{ID}:group_id>/delete")
@admin_required
def remove_group(group_id: int) -> Response:
    delete_group(runtime(), actor(), group_id=group_id)
    flash(gettext("Group deleted."), "success")
    return redirect(url_for("admin.groups"))


@bp.get("/requests")
@admin_required
def requests() -> str:
    status = request.args.get("status") or "pending"
    page = page_company_requests(runtime(), actor(), page_request(request.args), status=status)
    return render_template("admin/requests.html", requests=page.items, page=page, args=request.args, status=status)


@bp.post(f"/requests/<{ID}:request_id>/approve")
@admin_required
def approve_request(request_id: int) -> Response:
    view = decide_request(runtime(), actor(), request_id=request_id, approve=True,
                          comment=request.form.get("comment"))
    if view.status == "issued":
        message = gettext("Request #%(id)s approved: its certificate is issued.", id=view.id)
    elif view.status == "approved":
        message = gettext("Request #%(id)s approved: its requester is told by e-mail to collect the certificate.",
                          id=view.id)
    else:
        message = gettext("Request #%(id)s approved (%(status)s).", id=view.id, status=status_word(view.status))
    flash(message, "success")
    return redirect(url_for("admin.requests"))


@bp.post(f"/requests/<{ID}:request_id>/reject")
@admin_required
def reject_request(request_id: int) -> Response:
    view = decide_request(runtime(), actor(), request_id=request_id, approve=False,
                          comment=request.form.get("comment"))
    flash(gettext("Request #%(id)s rejected.", id=view.id), "info")
    return redirect(url_for("admin.requests"))


def _filters() -> CertificateFilter:
    return CertificateFilter(user_email=request.args.get("user") or None, status=request.args.get("status") or None,
                             expiring_days=_int_arg("expiring_days"), unused_days=_int_arg("unused_days"))


@bp.get("/certificates")
@admin_required
def certificates() -> str:
    filters = _filters()
    page = page_company_certificates(runtime(), actor(), filters, page_request(request.args))
    return render_template("admin/certificates.html", certificates=page.items, page=page, filters=filters,
                           query=request.query_string.decode(), args=request.args)


@bp.get("/certificates.csv")
@admin_required
def certificates_csv() -> Response:
    """The list as CSV, streamed (issue 15 item 2): one batch of rows from a server-side cursor at a time,
    written out as it comes, so a 100,000-certificate company costs the memory of one batch."""
    batches = export_company_certificates(runtime(), actor(), _filters(), request.args.get("q"))
    response = Response(stream_with_context(_csv_lines(batches)), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="certificates.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _csv_lines(batches: Iterator[list[CertificateView]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for views in batches:
        for view in views:
            row = view.to_dict()
            # A leading =, +, - or @ would be a formula in a spreadsheet (CSV injection): quote it away.
            writer.writerow(["'" + str(v) if str(v or "")[:1] in "=+-@" and v else (v or "")
                             for v in (row[c] for c in CSV_COLUMNS)])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


@bp.get("/unused")
@admin_required
def unused_form() -> str:
    days = _int_arg("days")
    days = 90 if days is None else days
    return render_template("admin/unused.html", days=days, candidates=preview_unused(runtime(), actor(), days=days))


@bp.post("/unused")
@admin_required
def unused() -> Response:
    try:
        days = int(request.form.get("days", ""))
    except ValueError:
        raise BadRequestError("days must be a number") from None
    outcome = revoke_confirmed_unused(runtime(), actor(), days=days, serials=request.form.getlist("serial"))
    message = gettext("%(count)s unused certificate(s) revoked.", count=len(outcome.revoked))
    if outcome.skipped:
        message += " " + gettext("%(count)s skipped: used or revoked since the list was shown.",
                                 count=len(outcome.skipped))
    flash(message, "success")
    return redirect(url_for("admin.certificates"))


@bp.get("/audit")
@admin_required
def audit() -> str:
    page = page_company_audit_trail(runtime(), actor(), page_request(request.args))
    return render_template("admin/audit.html", events=page.items, page=page, args=request.args)


@bp.get("/dashboard")
@admin_required
def dashboard() -> str:
    return render_template("dashboard.html", board=company_dashboard(runtime(), actor()))


@bp.get("/company")
@first_admin_required
def company() -> str:
    return render_template("admin/company.html")


@bp.post("/company")
@first_admin_required
def company_policy() -> Response:
    policy = set_approval_policy(runtime(), actor(), policy=request.form.get("approval_policy", ""))
    flash(gettext("Requests are now approved automatically.") if policy == "auto"
          else gettext("Each request now waits for an administrator's approval."), "success")
    return redirect(url_for("admin.company"))


def _acme_page(credentials: object = None) -> str:
    directory = Urls(runtime().settings.acme.directory_base).directory
    return render_template("admin/acme.html", overview=company_acme(runtime(), actor()), directory=directory,
                           credentials=credentials)


@bp.get("/acme")
@admin_required
def acme() -> str:
    """The company's ACME: allowed domains, accounts, and EAB credentials (RFC 8555 §7.3.4)."""
    return _acme_page()


@bp.post("/acme/eab")
@admin_required
def acme_eab() -> str:
    """New EAB credentials, shown once on the page that answers this POST (never stored in a cookie)."""
    return _acme_page(create_eab(runtime(), actor()))

