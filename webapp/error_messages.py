"""Marks the use-case messages (ca.errors) the HTML pages show translated (issue 15 item 1).

The core raises its errors in English, a single text that logs, the CLI and the JSON API read alike; a page
translates str(error) at render time (webapp.i18n.translate_message), which finds the French in the catalog
when the text is one of these. N_ marks a string for `pybabel extract` (one of its default keywords) and
returns it unchanged. A message built with values (an f-string naming a serial, an address) is listed with
`%(name)s` where each value goes: webapp.i18n reads the values back out of the English text by that shape
and puts them into the translation. A message not listed stays English.
"""

from __future__ import annotations


def N_(message: str) -> str:
    return message


MESSAGES: tuple[str, ...] = (
    N_("wrong e-mail address or password"),
    N_("your session has ended: please log in again"),
    N_("confirm your e-mail address first: follow the link we sent you"),
    N_("log in first"),
    N_("the two passwords differ"),
    N_("the two new passwords differ"),
    N_("the page to return to after login is not a valid address"),
    N_("you must belong to a company to do this"),
    N_("only a company administrator may do this"),
    N_("only the first administrator may do this"),
    N_("only a CA operator may do this"),
    N_("no such object"),
    N_("no such user"),
    N_("password missing"),
    N_("the current password is wrong"),
    N_("the password must not be your e-mail address"),
    N_("this password is too common: choose another one (a short sentence works well)"),
    N_("the password must have at least %(count)s characters"),
    N_("the password must have at most %(count)s characters"),
    N_("this link is not valid any more (used, replaced or expired): ask for a new one"),
    N_("you already belong to (or wait for) a company"),
    N_("you cannot detach yourself; ask another administrator"),
    N_("you may only create accounts in your own company"),
    N_("only a CA operator may detach the first administrator"),
    N_("only the first administrator may detach an administrator"),
    N_("only an administrator of the company may add people to it"),
    N_("only a person's own account may ask to join a company"),
    N_("invalid e-mail address %(address)s"),
    N_("no user #%(id)s in your company"),
    N_("%(email)s is not waiting for approval"),
    N_("%(email)s has already activated the account"),
    N_("choose a company"),
    N_("choose the company of the new account"),
    N_("an operator belongs to no company"),
    N_("this client certificate does not give access to the portal"),
    N_("a connection point code is 1 to 64 letters, digits, '.', '_', '/' or '-'"),
    N_("no certificate was confirmed"),
    N_("only the first administrator chooses the approval policy"),
    N_("say why in a comment: the requester will read it"),
    N_("this public key is blocked (reported compromised); generate a new key"),
    N_("you may not decide your own request: another administrator of the company or a CA operator decides it"),
    N_("the comment is limited to %(count)s characters"),
    N_("request #%(id)s is %(status)s, not pending"),
    N_("request #%(id)s is %(status)s: there is nothing to collect"),
    N_("%(email)s is no longer an active member of the company"),
    N_("no certificate request #%(id)s"),
    # Errors of the web adapter itself (webapp.errors).
    N_("Error"),
)

# Texts of the public pages (webapp.portal.public) shown through message.html and flashed messages.
PAGE_TEXTS: tuple[str, ...] = (
    N_("Check your mailbox"),
    N_("We sent a link to the address you gave. Open it to confirm your account and choose your password; it "
       "expires in a few days."),
    N_("If this address has an account, a link to choose a new password is on its way. It expires in a few days."),
    N_("You are logged out."),
    N_("Your account is active. Log in with your new password."),
    N_("Your password was changed. Log in with it."),
    N_("Your address is confirmed and your password saved. Log in to continue."),
)
