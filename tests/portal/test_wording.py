"""Issue 15 item 6, human wording: subjects with attribute names, revocation reasons in the gate's plain words,
the company form keeps what was typed when refused, and "Designate the first administrator" only when the
company has none."""

from __future__ import annotations

from sqlalchemy import update

from ca.actor import cli_operator
from ca.ledger.models import CertificateRecord
from ca.reasons import REASON_WORDS
from ca.revoke import revoke_certificate
from ca.x509.names import dn_text, readable_dn
from tests.conftest import EIC
from tests.portal.support import login, post
from tests.revocation.helpers import issue
from tests.support.ledger import snapshot


def test_readable_dn_names_numeric_attribute_types():
    stored = r"CN=Carol Petit\, Jr.,2.5.4.97=10XFR-RTE------Q,O=Grid+2.5.4.5=42,C=FR"
    assert readable_dn(stored) == (r"CN=Carol Petit\, Jr.,organizationIdentifier=10XFR-RTE------Q,"
                                   "O=Grid+serialNumber=42,C=FR")
    assert readable_dn("CN=a=b") == "CN=a=b"  # only the type is renamed, never a value


def test_certificate_pages_show_names_and_plain_reasons(client, world):
    runtime = world.runtime
    carol = world.actor("carol")
    issued = issue(runtime, carol, world.emails["carol"])
    assert "organizationIdentifier=" in dn_text(issued.certificate.subject)
    # A row written before names were used keeps the number in the ledger: shown with the name all the same.
    with runtime.sessionmaker.begin() as session:
        session.execute(update(CertificateRecord).where(CertificateRecord.serial == issued.serial)
                        .values(subject=issued.certificate.subject.rfc4514_string()))
    revoke_certificate(runtime, carol, serial=issued.serial, reason="superseded")
    login(client, world.emails["carol"])
    for url in ("/certificates", f"/certificates/{issued.serial}"):
        page = client.get(url).get_data(as_text=True)
        assert REASON_WORDS["superseded"] in page and "(superseded" not in page, url
    detail = client.get(f"/certificates/{issued.serial}").get_data(as_text=True)
    assert f"organizationIdentifier={EIC}" in detail and "2.5.4.97" not in detail
    admin = client.application.test_client()
    login(admin, world.emails["alice"])
    page = admin.get("/admin/certificates").get_data(as_text=True)
    assert REASON_WORDS["superseded"] in page and "(superseded)" not in page


def test_refused_company_form_keeps_what_was_typed(client, world):
    login(client, world.emails["oscar"])
    before = snapshot(world.runtime)
    response = post(client, "/operator/companies", {"eic": "10XFR-RTE------X", "name": "Réseau Typé"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "wrong check character" in page
    assert 'value="10XFR-RTE------X"' in page and 'value="Réseau Typé"' in page
    assert snapshot(world.runtime) == before
    duplicate = post(client, "/operator/companies", {"eic": EIC, "name": "Again"})
    assert duplicate.status_code == 409 and f'value="{EIC}"' in duplicate.get_data(as_text=True)


def test_designate_first_administrator_only_when_there_is_none(client, world):
    login(client, world.emails["oscar"])
    assert "Designate the first administrator" not in client.get(f"/operator/companies/{EIC}").get_data(as_text=True)
    from enrollment.accounts.companies import create_company

    create_company(world.runtime, cli_operator("pytest"), eic="17X100A100A0001A", name="New Co")
    page = client.get("/operator/companies/17X100A100A0001A").get_data(as_text=True)
    assert "Designate the first administrator" in page
