"""Template filters that put ledger values into human words, each from its one table (issue 15 item 6).

`reason_words`: a revocation reason (RFC 5280 §5.3.1 name) in the gate's words (ca.reasons.REASON_WORDS), so
the portal and the front office say the same thing. `dn`: a subject with attribute names, not OIDs.
"""

from __future__ import annotations

from flask import Flask

from ca.reasons import REASON_WORDS
from ca.x509.names import readable_dn


def reason_words(code: str | None) -> str:
    if not code:
        return ""
    return REASON_WORDS.get(code, code)


def register_wording(app: Flask) -> None:
    app.add_template_filter(reason_words, "reason_words")
    app.add_template_filter(readable_dn, "dn")
