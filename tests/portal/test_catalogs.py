"""The message catalogs are complete (issue 15 item 1): every marked string is in French and in English.

`pybabel extract` runs over the code as `make catalogs-update` does; a string marked in a template or in
Python but missing from a catalog, left untranslated or fuzzy in French, or translated with other
placeholders than its English, fails here, naming the string.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from ca.locales import SUPPORTED_LOCALES

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "webapp" / "translations"
PYBABEL = Path(sys.executable).parent / "pybabel"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Catalog:
    pot = tmp_path_factory.mktemp("catalogs") / "messages.pot"
    subprocess.run([str(PYBABEL), "-q", "extract", "-F", "babel.cfg", "--no-location", "-o", str(pot),
                    "webapp", "enrollment", "ca"], cwd=ROOT, check=True, timeout=120)
    with pot.open("rb") as handle:
        return read_po(handle)


def _catalog(locale: str) -> Catalog:
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def test_extraction_finds_the_portal_strings(template):
    """The extraction itself works (else every check below would pass on an empty list)."""
    ids = {message.id for message in template if message.id}
    assert {"Log in", "Certificate portal", "wrong e-mail address or password",
            "Request #%(id)s is waiting for an administrator. You will get an e-mail when it is decided."} <= ids


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_extracted_string_is_in_the_catalog(template, locale):
    catalog = _catalog(locale)
    missing = [message.id for message in template if message.id and message.id not in catalog]
    assert not missing, f"not in {locale}/messages.po (run `make catalogs-update`, then translate): {missing}"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_string_is_translated_with_the_same_placeholders(template, locale):
    catalog = _catalog(locale)
    untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy
                                                         or (isinstance(m.string, tuple) and not all(m.string)))]
    assert not untranslated, f"untranslated or fuzzy in {locale}/messages.po: {untranslated}"
    # Babel's own checks: python-format placeholders of msgstr are those of msgid.
    problems = [(message.id, [str(e) for e in errors]) for message, errors in catalog.check()]
    assert not problems, problems


def test_french_is_french(template):
    """A French msgstr copied from the English is a forgotten translation, except words both languages share."""
    same_in_both = {"E-mail", "Services", "EIC", "Front office", "Code", "Contact", "secret", "RSA 3072 bits"}
    copied = [m.id for m in _catalog("fr") if m.id and m.string == m.id and m.id not in same_in_both]
    assert not copied, f"French msgstr equal to the English: {copied}"


def _hashable(value):
    """A plural entry's id and string are lists (singular, plural) in a .mo, tuples in a .po."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_the_compiled_catalog_is_that_of_the_po_file(locale):
    """`make install` compiles the .po; a stale .mo would show yesterday's texts."""
    mo_path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
    assert mo_path.exists(), f"{mo_path} missing: run `make install`"
    with mo_path.open("rb") as handle:
        compiled = {_hashable(m.id): _hashable(m.string) for m in read_mo(handle) if m.id}
    source = {_hashable(m.id): _hashable(m.string) for m in _catalog(locale) if m.id and m.string}
    assert compiled == source, f"{mo_path} is older than its .po: run `make install`"


def _sources() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for package in ("ca", "enrollment", "revocation", "webapp")
                     for path in (ROOT / package).rglob("*.py") if path.name != "error_messages.py")


def test_every_listed_use_case_message_is_still_raised():
    """webapp.error_messages lists the English texts by hand: one that changed at its call site would
    silently stay English. Each must still be in the code, a `%(name)s` standing for an f-string field."""
    import re

    from webapp.error_messages import MESSAGES, PAGE_TEXTS

    sources = re.sub(r'"\s*\n\s*f?"', "", _sources())  # implicit concatenation over lines: one literal
    gone = []
    for msgid in MESSAGES + PAGE_TEXTS:
        parts = re.split(r"%\(\w+\)s", msgid)
        if len(parts) == 1:
            found = f'"{msgid}"' in sources
        else:
            field = r"\{[^{}]+\}"
            pattern = field.join(re.escape(part) for part in parts)
            found = re.search(pattern, sources) is not None
        if not found:
            gone.append(msgid)
    assert not gone, f"listed in webapp/error_messages.py but no longer in the code: {gone}"
