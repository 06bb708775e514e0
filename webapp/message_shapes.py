"""English messages with values, read back into their catalog entry (issue 15 item 1).

A use case writes its message once, in English, with its values in it ("This certificate expired on 2026-01-02
00:00 UTC."); its catalog entry names the values ("This certificate expired on %(when)s."). The shape of the
entry, each `%(name)s` a named group, finds the values in the text so that the translation can carry them.
Shared by the portal's pages (webapp.i18n) and the front office's (webapp.frontoffice.words)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def shape(msgid: str) -> re.Pattern[str]:
    """The English text of `msgid` with each `%(name)s` read back as a named group."""
    parts = PLACEHOLDER.split(msgid)  # text, name, text, name, …, text
    pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
    return re.compile(pattern, re.DOTALL)


def shapes(msgids: Iterable[str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((msgid, shape(msgid)) for msgid in msgids if PLACEHOLDER.search(msgid))


def translate_shaped(gettext: Callable[[str], str], text: str,
                     shaped: Iterable[tuple[str, re.Pattern[str]]]) -> str:
    """`text` in the language of `gettext`: its shaped entry with the values put back (each value itself
    translated when the catalog has it, as a revocation reason), else the entry of the text, else the text."""
    for msgid, pattern in shaped:
        found = pattern.fullmatch(text)
        if found:
            values = {name: gettext(value) for name, value in found.groupdict().items()}
            return gettext(msgid) % values
    return gettext(text) if text else text
