"""The page after a certificate file is downloaded (issue 11 item 4), whatever way it was made.

The three ways end here: the key made in the browser (webapp/assets/src/browser-keys.js builds the .p12 in the
page, then comes here), the server-made .p12 (the same script fetches the form's answer, then comes here), and
a CSR's certificate. The page shows the install steps for the person's system, chosen from the browser by the
script and switchable (without the script, every system is shown), and a link to test the certificate at the
front office. It holds nothing secret: the file is already on the person's computer.
"""

from __future__ import annotations

import re

from flask import Blueprint, render_template, request
from flask_babel import gettext

from webapp.error_messages import N_
from webapp.portal.auth import login_required, runtime

bp = Blueprint("browser_keys", __name__)


# Marked for the catalogs; the view translates the one it shows.
KINDS = {
    "browser": N_("Your key was made in this browser and your .p12 file was built here: no copy exists anywhere else."),
    "server": N_("Your .p12 file was made for you; the portal kept no copy of its key."),
    "csr": N_("Your certificate goes with the key you already hold."),
}
SERIAL = re.compile(r"[0-9A-Fa-f]{1,64}")


@bp.get("/certificates/downloaded")
@login_required
def after_download() -> str:
    kind = request.args.get("kind", "")
    serial = request.args.get("serial", "")
    return render_template("certificates/downloaded.html", what=gettext(KINDS.get(kind, KINDS["server"])),
                           kind=kind if kind in KINDS else "server",
                           serial=serial if SERIAL.fullmatch(serial) else None,
                           frontoffice_url=runtime().settings.frontoffice.address)
