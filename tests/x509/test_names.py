"""EIC codes and distinguished names (ca.x509.names)."""

from __future__ import annotations

import itertools

import pytest
from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.x509.oid import NameOID

from ca.errors import BadRequestError
from ca.x509.names import browser_subject, eic_check_character, parse_dn, validate_eic

# Published codes (ENTSO-E EIC registry): RTE as a party, a test party, and several bidding zones/areas.
REAL_EICS = [
    "10XFR-RTE------Q",
    "17X100A100A0001A",
    "10YFR-RTE------C",
    "10Y1001A1001A83F",
    "10YBE----------2",
    "10YNL----------L",
    "10YAT-APG------L",
    "10YCB-GERMANY--8",
]
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-"

# --- EIC ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_EICS)
def test_real_eic_codes_are_valid(code: str) -> None:
    assert eic_check_character(code[:15]) == code[15]
    assert validate_eic(code) == code


def test_validate_eic_normalizes_case_and_surrounding_spaces() -> None:
    assert validate_eic("  10xfr-rte------q\n") == "10XFR-RTE------Q"


@pytest.mark.parametrize("code", ["10XFR-RTE------Q", "17X100A100A0001A"])
def test_every_single_character_change_is_refused(code: str) -> None:
    """37 is prime and the weights 16..2 are distinct, so any one substitution changes the check."""
    refused = 0
    for position, replacement in itertools.product(range(16), ALPHABET):
        if code[position] == replacement:
            continue
        changed = code[:position] + replacement + code[position + 1 :]
        with pytest.raises(BadRequestError):
            validate_eic(changed)
        refused += 1
    assert refused == 16 * 36


def test_adjacent_transpositions_are_refused() -> None:
    code = "17X100A100A0001A"
    for i in range(14):
        if code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            with pytest.raises(BadRequestError, match="wrong check character"):
                validate_eic(swapped)


def test_wrong_check_character_says_which_was_expected() -> None:
    with pytest.raises(BadRequestError, match=r"wrong check character 'R', expected 'Q'"):
        validate_eic("10XFR-RTE------R")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", r"exactly 16 characters, got 0"),
        ("10XFR-RTE-----Q", r"exactly 16 characters, got 15"),
        ("10XFR-RTE-------Q", r"exactly 16 characters, got 17"),
        ("10XFR_RTE------Q", r"character '_' at position 6 is not allowed"),
        ("10XFR-RTÉ------Q", r"character 'É' at position 9 is not allowed"),
    ],
)
def test_malformed_eic_messages(code: str, message: str) -> None:
    with pytest.raises(BadRequestError, match=message) as caught:
        validate_eic(code)
    assert "\n" not in str(caught.value)


def _prefix_with_dash_check() -> str:
    for last in ALPHABET:
        prefix = "10X1001A1001A0" + last
        total = sum(ALPHABET.index(c) * w for c, w in zip(prefix, range(16, 1, -1), strict=True))
        if (total - 1) % 37 == 0:
            return prefix
    raise AssertionError("one of 37 consecutive sums must be 1 mod 37")


def test_a_code_whose_check_would_be_dash_is_invalid() -> None:
    prefix = _prefix_with_dash_check()
    with pytest.raises(BadRequestError, match="no valid check character"):
        eic_check_character(prefix)
    for check in ALPHABET:
        with pytest.raises(BadRequestError):
            validate_eic(prefix + check)


def test_eic_check_character_needs_15_characters() -> None:
    with pytest.raises(BadRequestError, match="need 15 characters before the check"):
        eic_check_character("10XFR-RTE------Q")


def test_validate_eic_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        validate_eic(None)  # type: ignore[arg-type]


# --- parse_dn ----------------------------------------------------------------------------------------


def _der_attributes(name: x509.Name) -> list[tuple[str, str, str]]:
    """(dotted OID, ASN.1 string type, value) in DER order, read back with asn1crypto (not cryptography)."""
    out = []
    for rdn in asn1_x509.Name.load(name.public_bytes()).chosen:
        assert len(rdn) == 1, "one attribute per RDN"
        value = asn1_core.load(rdn[0]["value"].dump())  # universal tag decides the string type
        out.append((rdn[0]["type"].dotted, type(value).__name__, value.native))
    return out


def test_parse_dn_reverses_rfc4514_order_and_encodes_country_as_printable() -> None:
    name = parse_dn("CN=Portail Issuing CA 1,O=Grid Operator,C=FR")
    assert _der_attributes(name) == [
        ("2.5.4.6", "PrintableString", "FR"),
        ("2.5.4.10", "UTF8String", "Grid Operator"),
        ("2.5.4.3", "UTF8String", "Portail Issuing CA 1"),
    ]
    assert name.rfc4514_string() == "CN=Portail Issuing CA 1,O=Grid Operator,C=FR"


def test_parse_dn_tolerates_spaces_lowercase_types_and_escapes() -> None:
    name = parse_dn(" cn=Zo\\C3\\A9\\, jr ,  OU=Ops, OU=PKI ; o=Grid  Operator,l=Paris,C=FR ")
    assert _der_attributes(name) == [
        ("2.5.4.6", "PrintableString", "FR"),
        ("2.5.4.7", "UTF8String", "Paris"),
        ("2.5.4.10", "UTF8String", "Grid  Operator"),
        ("2.5.4.11", "UTF8String", "PKI"),
        ("2.5.4.11", "UTF8String", "Ops"),
        ("2.5.4.3", "UTF8String", "Zoé, jr"),
    ]


def test_parse_dn_accepts_organization_identifier_and_serial_number() -> None:
    name = parse_dn("CN=x,serialNumber=42,organizationIdentifier=10XFR-RTE------Q")
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "10XFR-RTE------Q"
    assert name.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "42"


def test_parse_dn_accepts_upper_bound_lengths() -> None:
    name = parse_dn("CN=" + "a" * 64 + ",O=" + "b" * 64 + ",L=" + "c" * 128)
    assert len(name.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value) == 128


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"^subject must not be empty$"),
        ("   ", r"^subject must not be empty$"),
        ("O=Grid,C=FR", r"must contain a CN"),
        ("garbage", r"'garbage' is not of the form TYPE=value"),
        ("CN=x,,C=FR", r"empty component"),
        ("CN=x,", r"empty component"),
        ("CN=,C=FR", r"CN must not be empty"),
        ("CN=x,O=,C=FR", r"O must not be empty"),
        ("CN=x,C=fr", r"C must be two upper-case letters .*'fr'"),
        ("CN=x,C=F1", r"C must be two upper-case letters .*'F1'"),
        ("CN=x,C=FRA", r"C is 3 characters long, at most 2"),
        ("CN=" + "a" * 65, r"CN is 65 characters long, at most 64"),
        ("CN=x,O=" + "b" * 65, r"O is 65 characters long, at most 64"),
        ("CN=x,UID=y", r"attribute type 'UID' is not allowed"),
        ("CN=x,1.2.3.4=y", r"attribute type '1.2.3.4' is not allowed"),
        ("CN=a+O=b", r"multi-valued component"),
        ("CN=#0c03616263", r"as text, not as #hex"),
        ("CN=x,CN=y", r"CN appears more than once"),
        ("CN=x,C=FR,C=DE", r"C appears more than once"),
        ("CN=a\\", r"cannot parse"),
        ("CN=x\\ ,C=FR", r"must not start or end with spaces"),
        ("CN=a\\0Ab", r"control characters"),
    ],
)
def test_parse_dn_refusals(text: str, message: str) -> None:
    with pytest.raises(BadRequestError, match=message) as caught:
        parse_dn(text)
    assert "\n" not in str(caught.value)


# --- browser_subject ---------------------------------------------------------------------------------


def test_browser_subject_order_types_and_eic() -> None:
    name = browser_subject("FR", "Réseau de Transport", "10XFR-RTE------Q", "Jeanne Dupont")
    assert _der_attributes(name) == [
        ("2.5.4.6", "PrintableString", "FR"),
        ("2.5.4.10", "UTF8String", "Réseau de Transport"),
        ("2.5.4.97", "UTF8String", "10XFR-RTE------Q"),
        ("2.5.4.3", "UTF8String", "Jeanne Dupont"),
    ]


def test_browser_subject_normalizes_the_eic() -> None:
    name = browser_subject("FR", "Grid", "17x100a100a0001a", "A B")
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "17X100A100A0001A"


def test_browser_subject_accepts_64_characters() -> None:
    name = browser_subject("DE", "o" * 64, "17X100A100A0001A", "c" * 64)
    assert len(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value) == 64


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fr", "Grid", "17X100A100A0001A", "A B"), r"country must be two upper-case letters"),
        (("FRA", "Grid", "17X100A100A0001A", "A B"), r"country must be two upper-case letters"),
        (("FR", "", "17X100A100A0001A", "A B"), r"company name \(O\) must not be empty"),
        (("FR", "o" * 65, "17X100A100A0001A", "A B"), r"company name \(O\) is 65 characters long"),
        (("FR", "Grid", "17X100A100A0001A", "  "), r"full name \(CN\) must not be empty"),
        (("FR", "Grid", "17X100A100A0001A", "c" * 65), r"full name \(CN\) is 65 characters long"),
        (("FR", "Grid", "17X100A100A0001B", "A B"), r"expected 'A'"),
        (("FR", "Grid\x00", "17X100A100A0001A", "A B"), r"control characters"),
    ],
)
def test_browser_subject_refusals(args: tuple[str, str, str, str], message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        browser_subject(*args)
