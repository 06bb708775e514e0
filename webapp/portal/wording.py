"""Template filters that put ledger values into human words, each from its one table (issue 15 item 6).

`reason_words`: a revocation reason (RFC 5280 §5.3.1 name) in the gate's words (ca.reasons.REASON_WORDS), so
the portal and the front office say the same thing. `dn`: a subject with attribute names, not OIDs.
`list_url` and `sort_link`: the links of paginated lists (next page, sortable column headers).
"""

from __future__ import annotations

from flask import Flask, request, url_for
from flask_babel import gettext

from ca.reasons import REASON_WORDS
from ca.x509.names import readable_dn


def N_(text: str) -> str:
    """Marks a word for the catalogs; `status_word` translates it when a page shows it (issue 15 item 1)."""
    return text


# The states of certificates, requests and ACME accounts, and the approval policies, as the ledger spells
# them, in the page's language.
STATUS_WORDS = {"issued": N_("issued"), "revoked": N_("revoked"), "expired": N_("expired"),
                "pending": N_("pending"), "approved": N_("approved"), "rejected": N_("rejected"),
                "failed": N_("failed"), "fresh": N_("fresh"), "stale": N_("stale"),
                "invited": N_("invited"), "unconfirmed": N_("unconfirmed"), "active": N_("active"),
                "deactivated": N_("deactivated"), "valid": N_("valid"),
                # a company's approval policy (enrollment.requests.approval.POLICIES)
                "auto": N_("automatic"), "manual": N_("by an administrator")}


# The roles (ca.vocabulary.Role) in the page's language.
ROLE_WORDS = {"operator": N_("CA operator"), "first-admin": N_("first administrator"), "admin": N_("administrator"),
              "user": N_("user")}


def role_word(code: str | None) -> str:
    if not code:
        return ""
    return gettext(ROLE_WORDS[code]) if code in ROLE_WORDS else code


def status_word(code: str | None) -> str:
    if not code:
        return ""
    return gettext(STATUS_WORDS[code]) if code in STATUS_WORDS else code


def reason_words(code: str | None) -> str:
    if not code:
        return ""
    return gettext(REASON_WORDS[code]) if code in REASON_WORDS else code


def register_wording(app: Flask) -> None:
    app.add_template_filter(reason_words, "reason_words")
    app.add_template_filter(status_word, "status_word")
    app.add_template_filter(role_word, "role_word")
    app.add_template_filter(readable_dn, "dn")
    app.add_template_global(list_url, "list_url")
    app.add_template_global(sort_link, "sort_link")


def list_url(**changes: str | None) -> str:
    """This list page's URL with some query parameters changed (None drops one): the next page keeps the
    search and filters; a new sort or search starts again from the first page (no cursor)."""
    params = request.args.to_dict()
    if "cursor" not in changes:
        params.pop("cursor", None)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = value
    return url_for(str(request.endpoint), **(request.view_args or {}), **params)


def sort_link(column: str, default: str = "-issued") -> str:
    """The header link of a sortable column: descending first, then the other way round on a second click."""
    current = request.args.get("sort") or default
    return list_url(sort=column if current == "-" + column else "-" + column)
