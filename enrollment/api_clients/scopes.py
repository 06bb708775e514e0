"""The scopes an API application may hold (RFC 6749 §3.3: space-delimited, case-sensitive strings)."""

from __future__ import annotations

from ca.errors import BadRequestError
from ca.reasons import N_  # marks the descriptions for the catalogs; the portal page translates them

SCOPES: dict[str, str] = {
    "certificates:read": N_("read the company's certificates and requests"),
    "certificates:request": N_("request certificates and decide the company's requests"),
    "certificates:revoke": N_("revoke the company's certificates"),
    "users:read": N_("read the company's people and groups"),
    "users:manage": N_("add and detach people, manage groups"),
}


def parse_scopes(text: str) -> tuple[str, ...]:
    """Known scopes, deduplicated in the order of SCOPES; commas are accepted as separators too."""
    if not isinstance(text, str):
        raise BadRequestError("scope must be a string of space-separated scopes")
    asked = {part for part in text.replace(",", " ").split() if part}
    if not asked:
        raise BadRequestError("choose at least one scope: " + ", ".join(SCOPES))
    unknown = sorted(asked - SCOPES.keys())
    if unknown:
        raise BadRequestError(f"unknown scope {unknown[0]!r}; choose among {', '.join(SCOPES)}")
    return tuple(scope for scope in SCOPES if scope in asked)
