"""The CA operator's pages: register companies, designate their first administrator, connection points."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from ca.dashboard import operator_dashboard
from ca.errors import BadRequestError, ConflictError
from enrollment.accounts.activation import invite_user, resend_activation
from enrollment.accounts.companies import company_overview, create_company
from enrollment.accounts.company_lists import page_company_list
from enrollment.accounts.first_admin import replace_first_admin
from enrollment.accounts.operator_search import operator_search
from enrollment.groups.services import add_connection_point
from webapp.listing import page_request
from webapp.portal.auth import ID, actor, operator_required, runtime

bp = Blueprint("operator", __name__, url_prefix="/operator")


@bp.get("/companies")
@operator_required
def companies() -> str:
    page = page_company_list(runtime(), actor(), page_request(request.args))
    return render_template("operator/companies.html", companies=page.items, page=page, args=request.args)


@bp.post("/companies")
@operator_required
def new_company() -> Response | tuple[str, int]:
    typed = {"eic": request.form.get("eic", ""), "name": request.form.get("name", "")}
    try:
        view = create_company(runtime(), actor(), eic=typed["eic"], name=typed["name"])
    except (BadRequestError, ConflictError) as exc:  # the page again, with what was typed and why
        page = page_company_list(runtime(), actor(), page_request(request.args))
        return render_template("operator/companies.html", companies=page.items, page=page, args=request.args,
                               form=typed, error=str(exc)), 409 if isinstance(exc, ConflictError) else 400
    flash(gettext("%(name)s (%(eic)s) is registered: now designate its first administrator.", name=view.name,
                  eic=view.eic), "success")
    return redirect(url_for("operator.company", eic=view.eic))


@bp.get("/dashboard")
@operator_required
def dashboard() -> str:
    return render_template("dashboard.html", board=operator_dashboard(runtime(), actor()))


@bp.get("/search")
@operator_required
def search() -> str:
    return render_template("operator/search.html", results=operator_search(runtime(), actor(), request.args.get("q")))


@bp.get("/companies/<eic>")
@operator_required
def company(eic: str) -> str:
    return render_template("operator/company.html", company=company_overview(runtime(), actor(), company_eic=eic))


@bp.post("/companies/<eic>/administrators")
@operator_required
def new_administrator(eic: str) -> Response:
    form = request.form
    invitation = invite_user(runtime(), actor(), email=form.get("email", ""), full_name=form.get("full_name", ""),
                             role=form.get("role", "first-admin"), company_eic=eic)
    if invitation.mail_sent:
        flash(gettext("%(email)s received an activation link.", email=invitation.member.email), "success")
    else:
        flash(gettext("%(email)s was added, but the e-mail could not be sent: use Re-send.",
                      email=invitation.member.email), "error")
    return redirect(url_for("operator.company", eic=eic))


@bp.post("/companies/<eic>/first-admin")
@operator_required
def replace_first_administrator(eic: str) -> Response:
    form = request.form
    done = replace_first_admin(runtime(), actor(), company_eic=eic, email=form.get("email", ""),
                               full_name=form.get("full_name", ""), old_becomes=form.get("old_becomes", ""))
    how = gettext("invited (activation link sent)") if done.new_invited else gettext("promoted")
    old = (gettext("%(email)s is an administrator.", email=done.old_email) if done.old_becomes == "admin"
           else gettext("%(email)s was detached.", email=done.old_email))
    flash(gettext("%(email)s is the first administrator now (%(how)s).", email=done.new_email, how=how) + " " + old
          + ("" if done.mails_sent else " " + gettext("An e-mail could not be sent.")),
          "success" if done.mails_sent else "error")
    return redirect(url_for("operator.company", eic=eic))


@bp.post(f"/companies/<eic>/administrators/<{ID}:user_id>/resend")
@operator_required
def resend(eic: str, user_id: int) -> Response:
    invitation = resend_activation(runtime(), actor(), user_id=user_id)
    flash(gettext("A new activation link was sent to %(email)s.", email=invitation.member.email), "success")
    return redirect(url_for("operator.company", eic=eic))


@bp.post("/companies/<eic>/points")
@operator_required
def new_point(eic: str) -> Response:
    view = add_connection_point(runtime(), actor(), company_eic=eic, code=request.form.get("code", ""),
                                label=request.form.get("label", ""))
    flash(gettext("Connection point %(code)s added.", code=view.code), "success")
    return redirect(url_for("operator.company", eic=eic))
