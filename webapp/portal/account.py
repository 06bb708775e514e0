"""A person's own pages: home, my certificates (request, download, request deletion), my requests, profile."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import get_translations, gettext
from werkzeug.wrappers import Response

from ca.certificate_lists import page_my_certificates
from ca.certificates import CertificateView
from ca.errors import BadRequestError
from ca.expiry_words import expiry_words
from ca.reasons import PLAIN_WORDS, allowed_reasons
from ca.revoke import revoke_certificate
from ca.x509.pkcs12 import ENCRYPTIONS
from enrollment.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from enrollment.accounts.signup import change_password, request_membership
from enrollment.requests.approval import request_certificate
from enrollment.requests.downloads import download_certificate, get_certificate
from enrollment.requests.keygen import KEY_TYPES, collect_generated_certificate, request_generated_certificate
from enrollment.requests.renewal import check_renewable, renew_with_csr, renew_with_generated_key
from enrollment.requests.request_lists import page_my_requests
from enrollment.requests.views import Download
from webapp.listing import page_request
from webapp.portal.auth import ID, actor, login_required, member_required, principal, runtime

bp = Blueprint("account", __name__)


def send_download(download: Download) -> Response:
    response = Response(download.body, mimetype=download.media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/home")
@login_required
def home() -> str:
    return render_template("home.html")


@bp.get("/certificates")
@login_required
def certificates() -> str:
    page = page_my_certificates(runtime(), actor(), page_request(request.args))
    return render_template("certificates/list.html", certificates=page.items, page=page, args=request.args)


@bp.get("/certificates/new")
@member_required
def new_certificate() -> str:
    return render_template("certificates/new.html", encryptions=ENCRYPTIONS, key_types=KEY_TYPES,
                           min_length=MIN_LENGTH, max_length=MAX_LENGTH)


@bp.post("/certificates/generate")
@member_required
def generate() -> Response | tuple[str, int]:
    form = request.form
    try:
        if form.get("password") != form.get("password_confirmation"):
            raise BadRequestError("the two passwords differ")
        view, download = request_generated_certificate(
            runtime(), actor(), password=form.get("password", ""), encryption=form.get("encryption", "modern"),
            key_type=form.get("key_type", "ec-p256"))
    except BadRequestError as exc:
        return render_template("certificates/new.html", encryptions=ENCRYPTIONS, key_types=KEY_TYPES,
                               min_length=MIN_LENGTH, max_length=MAX_LENGTH, error=str(exc), tab="generate"), 400
    if download is None:
        flash(gettext("Request #%(id)s is waiting for an administrator. You will get an e-mail; then collect "
                      "your certificate on this page.", id=view.id), "info")
        return redirect(url_for("account.requests"))
    return send_download(download)


@bp.post("/certificates/upload")
@member_required
def upload() -> Response | tuple[str, int]:
    upload_file = request.files.get("csr_file")
    data = upload_file.read() if upload_file and upload_file.filename else request.form.get("csr", "").encode()
    try:
        outcome = request_certificate(runtime(), actor(), csr_data=data)
    except BadRequestError as exc:
        return render_template("certificates/new.html", encryptions=ENCRYPTIONS, key_types=KEY_TYPES,
                               min_length=MIN_LENGTH, max_length=MAX_LENGTH, error=str(exc), tab="upload"), 400
    if outcome.serial is None:
        flash(gettext("Request #%(id)s is waiting for an administrator. You will get an e-mail when it is "
                      "decided.", id=outcome.request.id), "info")
        return redirect(url_for("account.requests"))
    # The CSR way ends on the install-steps page too (issue 11 §4), which offers the certificate's files.
    return redirect(url_for("browser_keys.after_download", kind="csr", serial=outcome.serial))


@bp.get("/certificates/<serial>")
@login_required
def certificate(serial: str) -> str:
    return render_template("certificates/detail.html", cert=get_certificate(runtime(), actor(), serial=serial))


@bp.app_template_filter("expiry")
def expiry(view: CertificateView) -> str:
    """"expires in 12 days", "expired 3 days ago", "revoked" (issue 11 §5)."""
    return expiry_words(view.not_after, runtime().clock.now(), view.status, get_translations())


def _renewal_form(serial: str, *, error: str | None = None, tab: str | None = None) -> str:
    renewable = check_renewable(runtime(), actor(), serial=serial)
    renew = {"serial": renewable.serial, "grace_days": runtime().settings.lifecycle.renewal_grace_days,
             "expires": expiry_words(renewable.not_after, runtime().clock.now(), words=get_translations())}
    return render_template("certificates/new.html", encryptions=ENCRYPTIONS, key_types=KEY_TYPES,
                           min_length=MIN_LENGTH, max_length=MAX_LENGTH, renew=renew, error=error, tab=tab)


@bp.get("/certificates/<serial>/renew")
@member_required
def renew_form(serial: str) -> str:
    """The request form's key choices, posting to the renewal (issue 11 §2)."""
    return _renewal_form(serial)


@bp.post("/certificates/<serial>/renew/generate")
@member_required
def renew_generate(serial: str) -> Response | tuple[str, int]:
    form = request.form
    try:
        if form.get("password") != form.get("password_confirmation"):
            raise BadRequestError("the two passwords differ")
        renewal = renew_with_generated_key(runtime(), actor(), serial=serial, password=form.get("password", ""),
                                           encryption=form.get("encryption", "modern"),
                                           key_type=form.get("key_type", "ec-p256"))
    except BadRequestError as exc:
        return _renewal_form(serial, error=str(exc), tab="generate"), 400
    assert renewal.download is not None
    return send_download(renewal.download)


@bp.post("/certificates/<serial>/renew/upload")
@member_required
def renew_upload(serial: str) -> Response | tuple[str, int]:
    upload_file = request.files.get("csr_file")
    data = upload_file.read() if upload_file and upload_file.filename else request.form.get("csr", "").encode()
    try:
        renewal = renew_with_csr(runtime(), actor(), serial=serial, csr_data=data)
    except BadRequestError as exc:
        return _renewal_form(serial, error=str(exc), tab="upload"), 400
    flash(gettext("Your renewed certificate is ready: download it and install it with your key. The previous one "
                  "(%(serial)s…) stops working once you use this one.", serial=renewal.predecessor[:16]), "success")
    return redirect(url_for("browser_keys.after_download", kind="csr", serial=renewal.successor))


@bp.get("/certificates/<serial>/download/<fmt>")
@login_required
def download(serial: str, fmt: str) -> Response:
    return send_download(download_certificate(runtime(), actor(), serial=serial, fmt=fmt))


@bp.get("/certificates/<serial>/revoke")
@login_required
def revoke_form(serial: str) -> str:
    current = actor()
    return render_template("certificates/revoke.html", cert=get_certificate(runtime(), current, serial=serial),
                           reasons=[(r, PLAIN_WORDS.get(r, r)) for r in allowed_reasons(current)])


@bp.post("/certificates/<serial>/revoke")
@login_required
def revoke(serial: str) -> Response:
    view = revoke_certificate(runtime(), actor(), serial=serial, reason=request.form.get("reason", ""))
    flash(gettext("Certificate %(serial)s is revoked: it no longer opens any door.", serial=view.serial), "success")
    current = principal()
    mine = current is not None and view.user == current.email
    return redirect(url_for("account.certificates") if mine else url_for("admin.certificates"))


@bp.get("/requests")
@login_required
def requests() -> str:
    status = request.args.get("status") or "all"
    page = page_my_requests(runtime(), actor(), page_request(request.args), status=status)
    return render_template("requests.html", requests=page.items, page=page, args=request.args, status=status,
                           encryptions=ENCRYPTIONS, key_types=KEY_TYPES, min_length=MIN_LENGTH)


@bp.post(f"/requests/<{ID}:request_id>/collect")
@member_required
def collect(request_id: int) -> Response:
    form = request.form
    if form.get("password") != form.get("password_confirmation"):
        raise BadRequestError("the two passwords differ")
    return send_download(collect_generated_certificate(
        runtime(), actor(), request_id=request_id, password=form.get("password", ""),
        encryption=form.get("encryption", "modern"), key_type=form.get("key_type", "ec-p256")))


@bp.get("/profile")
@login_required
def profile() -> str:
    return render_template("profile.html", min_length=MIN_LENGTH, max_length=MAX_LENGTH)


@bp.post("/profile/password")
@login_required
def password() -> Response:
    form = request.form
    if form.get("new_password") != form.get("new_password_confirmation"):
        raise BadRequestError("the two new passwords differ")
    change_password(runtime(), actor(), current=form.get("current_password", ""), new=form.get("new_password", ""))
    session.clear()
    flash(gettext("Your password was changed and every session ended. Log in with the new password."), "success")
    return redirect(url_for("public.login"))


@bp.post("/profile/company")
@login_required
def join_company() -> Response:
    request_membership(runtime(), actor(), company_eic=request.form.get("company_eic", ""))
    flash(gettext("Your request was sent to the company's administrators."), "info")
    return redirect(url_for("account.home"))
