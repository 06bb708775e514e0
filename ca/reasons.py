"""Who may give which revocation reason (RFC 5280 §5.3.1 names; DESIGN §5).

Users revoke their own certificates with a short list; company administrators and operators have more.
certificateHold is never offered: this CA does not suspend certificates (BR §4.9.13).
"""

from __future__ import annotations

from ca.actor import Actor
from ca.errors import BadRevocationReasonError
from ca.x509.reasons import REASON_CODES

USER_REASONS = ("superseded", "cessationOfOperation", "keyCompromise")
ADMIN_REASONS = ("unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation",
                 "privilegeWithdrawn")
OPERATOR_REASONS = tuple(REASON_CODES)


def N_(text: str) -> str:
    """Marks a phrase for the catalogs (issue 15 item 1: pages and e-mails translate it when they show it)."""
    return text


# Plain words for the portal's "request deletion" page.
PLAIN_WORDS = {
    "superseded": N_("I have a new certificate that replaces it"),
    "cessationOfOperation": N_("I no longer need it"),
    "keyCompromise": N_("my private key may have been stolen or copied"),
    "affiliationChanged": N_("the holder left the company"),
    "privilegeWithdrawn": N_("the holder is no longer allowed to use it"),
    "unspecified": N_("no particular reason"),
}


def allowed_reasons(actor: Actor) -> tuple[str, ...]:
    if actor.is_operator:
        return OPERATOR_REASONS
    if actor.is_company_admin:
        return ADMIN_REASONS
    return USER_REASONS


def check_reason(actor: Actor, reason: str) -> str:
    if reason not in REASON_CODES:
        known = ", ".join(REASON_CODES)
        raise BadRevocationReasonError(f"unknown revocation reason {reason!r}; use one of: {known}")
    if reason not in allowed_reasons(actor):
        raise BadRevocationReasonError(
            f"reason {reason!r} is not available to you; use one of: {', '.join(allowed_reasons(actor))}")
    return reason


# What happened to a certificate, in the words the gate shows its holder.
REASON_WORDS = {
    "unspecified": N_("no reason given"),
    "keyCompromise": N_("its private key may have been compromised"),
    "cACompromise": N_("the certification authority was compromised"),
    "affiliationChanged": N_("its holder left the company"),
    "superseded": N_("it was replaced by a newer certificate"),
    "cessationOfOperation": N_("it is no longer needed"),
    "privilegeWithdrawn": N_("its holder's rights were withdrawn"),
    "aACompromise": N_("the attribute authority was compromised"),
}
