"""No text reaches a person without passing through the catalogs (issue 15 item 1).

tests/portal/test_catalogs.py checks the strings that are marked; this file finds the ones that are not.
Each template is read twice:
- its HTML, with every Jinja tag and expression replaced by a letterless marker (the jinja2 lexer tells
  which is which), through an HTML parser: a text node, or a title / placeholder / aria-label / alt
  attribute, or the value of a submit button, holding a word is English nobody translates;
- its expressions (the jinja2 parser): a string constant that is printed (`{{ "Renew" if x else … }}`, a
  dict's value that is shown) and is not the argument of `_()` / `gettext()` / `ngettext()` is the same.
Then pages are rendered with `Accept-Language: fr`, and none may show an English sentence: an English
msgid of the catalog (a string marked but shown without its translation), or a text node that reads as
English (plain Python strings: flash messages, view values).
Text in <code>, <pre>, <kbd>, <script> and <style> is literal (commands, identifiers), not language.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from jinja2 import Environment, nodes

from tests.conftest import EIC
from tests.portal.support import actor_of, login
from tests.revocation.helpers import issue

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "webapp" / "templates"
MARK = "\u2063"  # INVISIBLE SEPARATOR: stands for a Jinja tag; not a letter
LETTERS = re.compile(r"[^\W\d_]{2,}")
LITERAL = {"code", "pre", "kbd", "script", "style", "samp"}
TEXT_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}
GETTEXT = {"_", "gettext", "ngettext", "pgettext", "npgettext"}

# Words that are the same in every language, each with why.
ALLOWED: dict[str, str] = {
    "Portail PKI": "the product's name",
    "Windows": "a system's name", "macOS": "a system's name", "Firefox": "a browser's name",
    "ACME": "the protocol's name (RFC 8555)", "EIC": "the company identifier's name",
    "client_id": "the OAuth2 parameter's name (RFC 6749 §2.2), typed as such in programs",
    "client_secret": "the OAuth2 parameter's name (RFC 6749 §2.3.1)",
    "kid": "the EAB parameter's name (RFC 8555 §7.3.4), typed as such in ACME clients",
    "hmac_key": "the EAB key's name in ACME clients' options",
    "certbot": "a program's name", "Linux": "a system's name", "Edge": "a browser's name",
    "Chrome": "a browser's name",
    "UTC": "the time scale's name, the same in French",
    "SHA-256": "the hash function's name (FIPS 180-4)",
    "PEM": "the encoding's name (RFC 7468)", "DER": "the encoding's name (X.690)",
    "CSR": "the certificate signing request's usual name (RFC 2986), in French too",
    "-----BEGIN CERTIFICATE REQUEST-----": "the PEM label a pasted CSR starts with (RFC 7468 §7)",
    "10XFR-RTE------Q": "an example EIC, a code",
}


FILE_EXTENSION = re.compile(r"\.[a-z0-9]{2,4}\b")  # .crt, .p12: names of file types


def _allowed(text: str) -> bool:
    rest = FILE_EXTENSION.sub(" ", text)
    for word in sorted(ALLOWED, key=len, reverse=True):
        rest = rest.replace(word, " ")
    return not LETTERS.search(rest)


class _TextFinder(HTMLParser):
    """Collects the text a person reads (nodes and the attributes above) outside literal elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._literal = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in LITERAL:
            self._literal += 1
        values = dict(attrs)
        for name, value in attrs:
            if value and (name in TEXT_ATTRIBUTES or (name == "value" and tag in ("input", "button")
                                                       and values.get("type") in ("submit", "button"))):
                self.found.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in LITERAL and self._literal:
            self._literal -= 1

    def handle_data(self, data: str) -> None:
        if not self._literal and data.strip():
            self.found.append(data.strip())


def _words(found: list[str]) -> list[str]:
    cleaned = (text.replace(MARK, " ") for text in found)
    return [text for text in cleaned if LETTERS.search(text) and not _allowed(text)]


def _html_without_jinja(env: Environment, source: str) -> str:
    """The template's own HTML, each Jinja tag, expression or comment one marker."""
    out: list[str] = []
    inside = in_trans = False
    previous = ""
    for _line, kind, value in env.lex(source):
        if kind == "name" and previous == "block_begin" and value in ("trans", "endtrans"):
            in_trans = value == "trans"  # {% trans %}…{% endtrans %} is marked text, HTML included
        if kind != "whitespace":
            previous = kind
        if kind == "data" and not in_trans:
            out.append(value)
            inside = False
        elif not inside:
            out.append(MARK)
            inside = True
        if kind in ("variable_end", "block_end", "comment_end"):
            inside = False
    return "".join(out)


def _printed_constants(node: nodes.Node, printed: bool) -> list[str]:
    """String constants an expression may print, outside gettext calls and non-printing positions."""
    if isinstance(node, nodes.Const):
        return [node.value] if printed and isinstance(node.value, str) else []
    if isinstance(node, nodes.Call):
        if isinstance(node.node, nodes.Name) and node.node.name in GETTEXT:
            return []
        if isinstance(node.node, nodes.Getattr) and node.node.attr == "get":  # {"a": "shown"}.get(key, …)
            return _printed_constants(node.node.node, printed)
        return []  # url_for('…'), csrf_token(): arguments are names, the result is not a constant
    if isinstance(node, nodes.CondExpr):
        return (_printed_constants(node.test, False) + _printed_constants(node.expr1, printed)
                + (_printed_constants(node.expr2, printed) if node.expr2 is not None else []))
    if isinstance(node, nodes.Filter | nodes.Test):
        inner = _printed_constants(node.node, printed) if node.node is not None else []
        return inner  # a filter's arguments (join(", "), strftime formats) are not sentences
    if isinstance(node, nodes.Getitem):
        return _printed_constants(node.node, printed)  # a dict literal's values, not the key looked up
    if isinstance(node, nodes.Dict):
        return [text for pair in node.items for text in _printed_constants(pair.value, printed)]
    if isinstance(node, nodes.Concat | nodes.Add):
        return [text for child in node.iter_child_nodes() for text in _printed_constants(child, printed)]
    if isinstance(node, nodes.Compare | nodes.And | nodes.Or | nodes.Not):
        return []
    return [text for child in node.iter_child_nodes() for text in _printed_constants(child, printed)]


def _template_problems(path: Path) -> list[str]:
    env = Environment(extensions=["jinja2.ext.i18n"])
    source = path.read_text(encoding="utf-8")
    finder = _TextFinder()
    finder.feed(_html_without_jinja(env, source))
    finder.close()
    problems = _words(finder.found)
    for output in env.parse(source).find_all(nodes.Output):
        for child in output.nodes:
            if not isinstance(child, nodes.TemplateData):
                problems += _words(_printed_constants(child, True))
    return problems


TEMPLATE_FILES = sorted(TEMPLATES.rglob("*.html"))


def test_the_scanner_sees_unmarked_text(tmp_path):
    """The check itself can fail: each kind of unmarked text in a sample is found, marked text is not."""
    sample = tmp_path / "sample.html"
    sample.write_text('{% block title %}Plain title{% endblock %}<p>{{ _("Marked") }} and loose words</p>'
                      '<input type="submit" value="Send it"><input placeholder="{{ _(\'ok\') }}">'
                      '<a aria-label="main menu"></a><code>openssl req -new</code>'
                      '{{ "Renew it" if x else _("Get") }}{{ {"a": "Shown text"}[k] }}'
                      '{{ {"b": "Got text"}.get(k, k) }}{{ url_for("x.y") }}'
                      '<p>Windows, macOS</p>{% trans %}Also <em>marked</em>{% endtrans %}', encoding="utf-8")
    found = " | ".join(_template_problems(sample))
    for text in ("Plain title", "and loose words", "Send it", "main menu", "Renew it", "Shown text", "Got text"):
        assert text in found, (text, found)
    for text in ("Marked", "openssl", "Get", "x.y", "Windows", "ok", "Also", "marked"):
        assert text not in found.replace("loose words", ""), (text, found)


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_template_text_is_marked_for_translation(path):
    problems = _template_problems(path)
    assert not problems, f"{path.relative_to(ROOT)}: text outside _() / {{% trans %}}: {problems}"


# --- rendered pages -------------------------------------------------------------------------------------

ENGLISH_WORDS = {"the", "your", "you", "is", "are", "with", "and", "this", "was", "has", "have", "from",
                 "will", "of", "to", "for", "it", "be", "been", "by", "not", "cannot", "an", "only"}


def _english_msgids() -> set[str]:
    """Texts of the catalog whose French differs (so their English on a French page is a slip)."""
    with (ROOT / "webapp/translations/fr/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    return {m.id for m in catalog if isinstance(m.id, str) and m.string and m.string != m.id and "%(" not in m.id}


def _reads_as_english(text: str) -> bool:
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", text)}
    return len(words & ENGLISH_WORDS) >= 2


def english_on(html: str, msgids: set[str]) -> list[str]:
    """Text nodes that read as English or are an English msgid (a status code shown raw: "issued"), and
    English sentences of the catalog anywhere in the page."""
    finder = _TextFinder()
    finder.feed(html)
    texts = [t for t in finder.found if LETTERS.search(t)]
    slips = [t for t in texts if _reads_as_english(t) or t in msgids]
    slips += [m for m in msgids if " " in m and len(m) > 12 and m in html]
    return slips


def test_the_english_detector_fires():
    assert english_on("<p>Your certificate is ready.</p>", set())
    assert english_on("<p>Un texte</p><p>Log in now</p>", {"Log in now"})
    assert english_on("<td><span>issued</span></td>", {"issued"})
    assert not english_on("<p>Votre certificat est prêt.</p><code>the file is</code>", set())


FRENCH_PAGES_ANONYMOUS = ("/login", "/signup", "/password-reset")
FRENCH_PAGES_ADMIN = ("/home", "/profile", "/certificates", "/certificates/new", "/requests",
                      "/certificates/downloaded?kind=browser", "/certificates/downloaded?kind=server",
                      "/admin/users", "/admin/groups", "/admin/requests", "/admin/certificates", "/admin/audit",
                      "/admin/api-clients", "/admin/acme")


@pytest.fixture(scope="module")
def msgids() -> set[str]:
    return _english_msgids()


def _french_slips(client, paths: tuple[str, ...], msgids: set[str]) -> dict[str, list[str]]:
    slips = {}
    for path in paths:
        response = client.get(path, headers={"Accept-Language": "fr"})
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        assert '<html lang="fr">' in body, path
        found = english_on(body, msgids)
        if found:
            slips[path] = found
    return slips


def test_french_pages_show_no_english(client, world, msgids, app):
    runtime = world.runtime
    issued = issue(runtime, world.actor("carol"), world.emails["carol"])
    slips = _french_slips(client, FRENCH_PAGES_ANONYMOUS, msgids)
    login(client, world.emails["alice"])
    carol_id = actor_of(runtime, world.emails["carol"]).user_id
    slips |= _french_slips(client, FRENCH_PAGES_ADMIN + (
        "/admin/dashboard", "/admin/company", "/admin/unused", f"/admin/groups/{world.groups['A']}",
        f"/admin/users/{carol_id}/detach", "/admin/requests?status=all"), msgids)
    carol = app.test_client()
    login(carol, world.emails["carol"])
    slips |= _french_slips(carol, ("/certificates", f"/certificates/{issued.serial}",
                                   f"/certificates/{issued.serial}/revoke", f"/certificates/{issued.serial}/renew",
                                   "/requests", "/home"), msgids)
    operator = app.test_client()
    login(operator, world.emails["oscar"])
    slips |= _french_slips(operator, ("/operator/dashboard", "/operator/companies", f"/operator/companies/{EIC}",
                                      f"/operator/search?q={world.emails['carol']}", "/operator/search?q=10X"),
                           msgids)
    assert not slips


def test_the_key_page_gives_its_script_the_page_language(client, world):
    """browser-keys.js shows its status lines from the page's JSON block (CSP: data, not code), each
    `{name}` a value the script puts in."""
    import json

    login(client, world.emails["carol"])
    found = {}
    for locale in ("fr", "en"):
        body = client.get("/certificates/new", headers={"Accept-Language": locale}).get_data(as_text=True)
        block = re.search(r'<script type="application/json" id="browser-keys-words">(.*?)</script>', body, re.S)
        assert block, body[:500]
        found[locale] = json.loads(block.group(1))
    assert found["en"]["making"] == "Making your key in this browser…"
    assert found["fr"]["making"] != found["en"]["making"] and "navigateur" in found["fr"]["making"]
    assert found["en"].keys() == found["fr"].keys()
    for key, english in found["en"].items():
        assert re.findall(r"\{\w+\}", found["fr"][key]) == re.findall(r"\{\w+\}", english), key
    source = (ROOT / "webapp/assets/src/browser-keys.js").read_text(encoding="utf-8")
    assert set(re.findall(r'words\("(\w+)"', source)) == set(found["en"]), "a word the script asks for is not given"
