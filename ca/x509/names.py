"""Names: EIC codes (company identity) and distinguished names (certificate subjects).

Everything here turns operator or user input into values the CA will sign, so every refusal is a
BadRequestError with one line that tells the person what to fix.
"""

from __future__ import annotations

import re
import unicodedata

from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from ca.errors import BadRequestError

# --- display names (people, companies, groups, connection points) ------------------------------------

# Refused anywhere in a name: control characters (NUL breaks issuance and PostgreSQL text), format
# characters (Cf: the bidirectional overrides and isolates U+202A-U+202E, U+2066-U+2069, zero-width
# characters), surrogates and line/paragraph separators. A name goes into certificate subjects, pages,
# e-mails and CSV exports, where these characters hide or reorder what a person reads (issue 13).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def validate_display_name(value: str | None, what: str, max_length: int = 64) -> str:
    """The one rule for every name a person types: no control or bidi characters, spaces collapsed, 1 to
    `max_length` characters. `what` names the field in the one-line refusal ("full name", "group name")."""
    value = value or ""
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) not in _REFUSED_CATEGORIES:
            continue
        raise BadRequestError(f"{what}: character U+{ord(char):04X} at position {position} is not allowed "
                              "(no control, invisible or text-direction characters)")
    name = " ".join(value.split())
    if not 1 <= len(name) <= max_length:
        raise BadRequestError(f"{what} must be 1 to {max_length} characters")
    return name


# --- EIC (ENTSO-E Energy Identification Code) -------------------------------------------------------

_EIC_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-"  # index = value: 0-9, A-Z -> 10-35, '-' -> 36
_EIC_LENGTH = 16


def _eic_value(char: str, position: int) -> int:
    value = _EIC_ALPHABET.find(char) if len(char) == 1 else -1
    if value < 0:
        raise BadRequestError(
            f"EIC code: character {char!r} at position {position} is not allowed (only 0-9, A-Z and '-')"
        )
    return value


def eic_check_character(first15: str) -> str:
    """The 16th character of an EIC code: weights 16..2 over the first 15 values, 36 - ((sum - 1) mod 37).

    The result 36 ('-') is never a valid check character (EIC reference manual), so such a code
    cannot exist and is refused here rather than producing an unusable code.
    """
    if len(first15) != _EIC_LENGTH - 1:
        raise BadRequestError(f"EIC code: need 15 characters before the check character, got {len(first15)}")
    weights = range(16, 1, -1)
    total = sum(_eic_value(c, i + 1) * w for i, (c, w) in enumerate(zip(first15, weights, strict=True)))
    check = 36 - ((total - 1) % 37)
    if check == 36:
        raise BadRequestError(f"EIC code: {first15!r} has no valid check character ('-' is never allowed)")
    return _EIC_ALPHABET[check]


def normalize_eic(code: str) -> str:
    """The one spelling of an EIC code the ledger stores: stripped and upper-cased (no check here)."""
    return code.strip().upper()


def validate_eic(code: str) -> str:
    """Return the EIC code upper-cased and stripped, or refuse it with the reason.

    The check character catches most typing errors before a company is registered under a wrong identity.
    """
    if not isinstance(code, str):
        raise TypeError("EIC code must be a str")
    normalized = normalize_eic(code)
    if len(normalized) != _EIC_LENGTH:
        raise BadRequestError(f"EIC code must be exactly 16 characters, got {len(normalized)}")
    for position, char in enumerate(normalized, start=1):
        _eic_value(char, position)
    expected = eic_check_character(normalized[:15])
    if normalized[15] != expected:
        raise BadRequestError(
            f"EIC code {normalized}: wrong check character {normalized[15]!r}, expected {expected!r}"
        )
    return normalized


# --- Distinguished names ----------------------------------------------------------------------------

# Attributes an operator may type, with RFC 5280 Appendix A upper bounds (ub-*), in characters.
_ALLOWED: dict[str, tuple[x509.ObjectIdentifier, int]] = {
    "C": (NameOID.COUNTRY_NAME, 2),
    "ST": (NameOID.STATE_OR_PROVINCE_NAME, 128),
    "L": (NameOID.LOCALITY_NAME, 128),
    "O": (NameOID.ORGANIZATION_NAME, 64),
    "OU": (NameOID.ORGANIZATIONAL_UNIT_NAME, 64),
    "CN": (NameOID.COMMON_NAME, 64),
    "SERIALNUMBER": (NameOID.SERIAL_NUMBER, 64),
    "ORGANIZATIONIDENTIFIER": (NameOID.ORGANIZATION_IDENTIFIER, 64),
}
_REPEATABLE = {"OU"}
_COUNTRY = re.compile(r"[A-Z]{2}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _attribute(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute:
    """C is a PrintableString (RFC 5280 Appendix A, checked by pkilint); the rest UTF8String (§4.1.2.4)."""
    if oid == NameOID.COUNTRY_NAME:
        return x509.NameAttribute(oid, value, _type=_ASN1Type.PrintableString)
    return x509.NameAttribute(oid, value, _type=_ASN1Type.UTF8String)


def _check_value(label: str, value: str, upper_bound: int) -> None:
    if not value.strip():
        raise BadRequestError(f"subject: {label} must not be empty")
    if value != value.strip():
        raise BadRequestError(f"subject: {label} must not start or end with spaces")
    if _CONTROL.search(value):
        raise BadRequestError(f"subject: {label} contains control characters")
    if len(value) > upper_bound:
        raise BadRequestError(f"subject: {label} is {len(value)} characters long, at most {upper_bound}")


def _split_unescaped(text: str, separators: str) -> list[str]:
    """Split on separators not escaped by a backslash (RFC 4514 §3 escaping)."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char in separators:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _strip_rdn(part: str) -> str:
    """Drop spaces around an RDN, keeping an escaped trailing space ('\\ ', RFC 4514 §2.4)."""
    part = part.lstrip(" ")
    while part.endswith(" ") and not part.endswith("\\ "):
        part = part[:-1]
    return part


def _parse_rdn(part: str) -> tuple[str, x509.NameAttribute]:
    if not part:
        raise BadRequestError("subject: empty component (two commas in a row, or a trailing comma)")
    if len(_split_unescaped(part, "+")) > 1:
        raise BadRequestError(f"subject: multi-valued component {part!r} is not supported")
    key, sep, raw_value = part.partition("=")
    key = key.strip().upper()
    if not sep:
        raise BadRequestError(f"subject: component {part!r} is not of the form TYPE=value")
    if key not in _ALLOWED:
        raise BadRequestError(f"subject: attribute type {key!r} is not allowed (use {', '.join(_ALLOWED)})")
    raw_value = raw_value.lstrip(" ")
    if raw_value.startswith("#"):
        raise BadRequestError(f"subject: {key} must be typed as text, not as #hex")
    oid, upper_bound = _ALLOWED[key]
    if not raw_value:
        raise BadRequestError(f"subject: {key} must not be empty")
    try:
        # cryptography does the RFC 4514 unescaping; we only hand it one normalized RDN at a time.
        # PSEUDONYM carries no length limit in cryptography, so our own checks below word the refusal.
        (parsed,) = x509.Name.from_rfc4514_string(f"X={raw_value}", {"X": NameOID.PSEUDONYM})
    except ValueError as error:
        reason = str(error) or "check quotes and backslash escapes"
        raise BadRequestError(f"subject: cannot parse {part!r} ({reason})") from None
    value = str(parsed.value)
    _check_value(key, value, upper_bound)
    if oid == NameOID.COUNTRY_NAME and not _COUNTRY.match(value):
        raise BadRequestError(f"subject: C must be two upper-case letters (ISO 3166), got {value!r}")
    return key, _attribute(oid, value)


def parse_dn(text: str) -> x509.Name:
    """Parse an operator-typed subject such as "CN=Portail Issuing CA 1,O=Grid Operator,C=FR".

    RFC 4514 §2.1 writes the most specific RDN first, so the DER order is the reverse (C, O, CN).
    Spaces after commas and lower-case types are tolerated, since people type them.
    """
    if not isinstance(text, str):
        raise TypeError("subject must be a str")
    if not text.strip():
        raise BadRequestError("subject must not be empty")
    seen: set[str] = set()
    attributes: list[x509.NameAttribute] = []
    for part in _split_unescaped(text.strip(), ",;"):
        key, attribute = _parse_rdn(_strip_rdn(part))
        if key in seen and key not in _REPEATABLE:
            raise BadRequestError(f"subject: {key} appears more than once")
        seen.add(key)
        attributes.append(attribute)
    if "CN" not in seen:
        raise BadRequestError("subject must contain a CN (common name)")
    return x509.Name([x509.RelativeDistinguishedName([a]) for a in reversed(attributes)])


def browser_subject(country: str, company_name: str, eic: str, full_name: str) -> x509.Name:
    """Subject of a user's browser certificate: C, O, organizationIdentifier (the EIC), CN, in DER order.

    The EIC goes into organizationIdentifier (X.520 2.5.4.97) as the bare code, so the front office can
    map a certificate to its company without parsing the organization name.
    """
    if not _COUNTRY.match(country):
        raise BadRequestError(f"country must be two upper-case letters (ISO 3166), got {country!r}")
    company_name, full_name = company_name.strip(), full_name.strip()
    _check_value("company name (O)", company_name, 64)  # RFC 5280 ub-organization-name
    _check_value("full name (CN)", full_name, 64)  # RFC 5280 ub-common-name
    code = validate_eic(eic)
    return x509.Name(
        [
            x509.RelativeDistinguishedName([_attribute(NameOID.COUNTRY_NAME, country)]),
            x509.RelativeDistinguishedName([_attribute(NameOID.ORGANIZATION_NAME, company_name)]),
            x509.RelativeDistinguishedName([_attribute(NameOID.ORGANIZATION_IDENTIFIER, code)]),
            x509.RelativeDistinguishedName([_attribute(NameOID.COMMON_NAME, full_name)]),
        ]
    )


# --- Showing names to people ------------------------------------------------------------------------

# Attribute names for the types cryptography's RFC 4514 writer only knows by number (RFC 4514 §2.3 lets a
# writer use a descriptor it knows; X.520 gives these): a subject reads "organizationIdentifier=10X…",
# never "2.5.4.97=10X…".
ATTRIBUTE_NAMES: dict[x509.ObjectIdentifier, str] = {
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.GIVEN_NAME: "givenName",
    NameOID.SURNAME: "surname",
    NameOID.TITLE: "title",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionCountryName",
}
_NAMES_BY_DOTTED = {oid.dotted_string: label for oid, label in ATTRIBUTE_NAMES.items()}


def dn_text(name: x509.Name) -> str:
    """The one RFC 4514 string of a name shown or stored anywhere, with attribute names, not numbers."""
    return name.rfc4514_string(ATTRIBUTE_NAMES)


def readable_dn(text: str) -> str:
    """A stored RFC 4514 string with its numeric attribute types (`2.5.4.97=`) replaced by their names;
    rows written before `dn_text` keep the numbers in the ledger, and are shown with names all the same."""
    rdns = []
    for rdn in _split_unescaped(text, ","):
        parts = []
        for part in _split_unescaped(rdn, "+"):
            key, sep, value = part.partition("=")
            parts.append(f"{_NAMES_BY_DOTTED.get(key.strip(), key)}{sep}{value}")
        rdns.append("+".join(parts))
    return ",".join(rdns)
