"""Issue 15 item 2 for a person's own lists and the company CSV: "My certificates" and "My requests" walk
1,000 rows each once, in order, with stable cursors while rows are added; they sort and search; a bad cursor
or a limit over 500 is a 400. The CSV export streams its rows in batches (a generator, chunked), complete and
newest first."""

from __future__ import annotations

import csv
import io
import re
import secrets
from datetime import timedelta
from html import unescape

from sqlalchemy import insert, select

from ca.ledger import store
from ca.ledger.export_store import EXPORT_BATCH
from ca.ledger.models import CertificateRecord, CertificateRequest
from ca.x509.serials import format_serial, random_serial_number
from tests.conftest import EIC
from tests.portal.support import login

ROWS = 1000


def _company_id(runtime) -> int:
    with runtime.sessionmaker() as session:
        return next(c.id for c in store.list_companies(session) if c.eic == EIC)


def _certificates(runtime, world, count: int, *, holder: str = "carol", start: int = 0) -> list[str]:
    """`count` signed certificate rows of company A for `holder`, in bulk (what a list reads)."""
    now = runtime.clock.now()
    company_id, user_id = _company_id(runtime), world.id(holder)
    with runtime.sessionmaker.begin() as session:
        issuer_id = store.list_issuers(session)[0].id
        rows = [{
            "issuer_id": issuer_id, "serial": format_serial(random_serial_number()),
            "status": "revoked" if i % 7 == 0 else "issued",
            "profile": "browser", "subject": f"CN=Holder {i:05d},2.5.4.97={EIC},O=Grid,C=FR",
            "not_before": now - timedelta(days=1), "not_after": now + timedelta(days=30 + (i * 37) % 300),
            "spki_sha256": secrets.token_hex(32), "user_id": user_id, "company_id": company_id,
            "created_at": now, "revoked_at": now if i % 7 == 0 else None,
            "revocation_reason": "superseded" if i % 7 == 0 else None,
        } for i in range(start, start + count)]
        session.execute(insert(CertificateRecord), rows)
    return [r["serial"] for r in rows]


def _requests(runtime, world, count: int, *, holder: str = "carol") -> None:
    company_id, user_id = _company_id(runtime), world.id(holder)
    with runtime.sessionmaker.begin() as session:
        session.execute(insert(CertificateRequest), [
            {"user_id": user_id, "company_id": company_id, "profile": "browser", "csr_der": None,
             "status": "rejected" if i % 4 == 0 else "pending", "created_at": runtime.clock.now()}
            for i in range(count)])


def _walk(client, url: str, pattern: str, on_page=None) -> list[str]:
    seen: list[str] = []
    pages = 0
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
        html = answer.get_data(as_text=True)
        seen += re.findall(pattern, html)
        pages += 1
        if on_page:
            on_page(pages)
        following = re.search(r'rel="next" href="([^"]+)"', html)
        url = unescape(following.group(1)) if following else None
        assert pages < 200
    return seen


def _my_serials(runtime, world, holder: str = "carol", order=(CertificateRecord.id.desc(),)) -> list[str]:
    user_id = world.id(holder)
    with runtime.sessionmaker() as session:
        query = select(CertificateRecord.serial).where(CertificateRecord.user_id == user_id)
        return list(session.execute(query.order_by(*order)).scalars())


def test_my_certificates_walks_every_row_once_in_order_while_rows_are_added(client, world, runtime):
    _certificates(runtime, world, ROWS)
    _certificates(runtime, world, 40, holder="dave")  # someone else's: never on carol's page
    expected = _my_serials(runtime, world)
    login(client, world.emails["carol"])

    def add_rows(page: int) -> None:
        if page in (2, 7):
            _certificates(runtime, world, 3, start=ROWS + page * 10)

    seen = _walk(client, "/certificates?limit=90", r'<tr data-serial="([0-9a-f]+)">', add_rows)
    assert seen == expected and len(seen) == ROWS
    ascending = _walk(client, "/certificates?limit=500&sort=serial", r'<tr data-serial="([0-9a-f]+)">')
    assert ascending == sorted(_my_serials(runtime, world)) and len(ascending) == ROWS + 6
    by_expiry = _walk(client, "/certificates?limit=500&sort=-not_after", r'<tr data-serial="([0-9a-f]+)">')
    assert by_expiry == _my_serials(runtime, world, order=(CertificateRecord.not_after.desc(),
                                                          CertificateRecord.id.desc()))


def test_my_certificates_search_sort_and_bad_input(client, world, runtime):
    serials = _certificates(runtime, world, 50)
    dave = _certificates(runtime, world, 5, holder="dave")
    login(client, world.emails["carol"])
    target = serials[17]
    spaced = ":".join(target[i:i + 2] for i in range(0, len(target), 2)).upper()
    for q in (target, spaced):
        html = client.get(f"/certificates?q={q}").get_data(as_text=True)
        assert re.findall(r'<tr data-serial="([0-9a-f]+)">', html) == [target]
    by_subject = client.get("/certificates?q=holder 0004").get_data(as_text=True)
    assert len(re.findall(r"<tr data-serial=", by_subject)) == 10  # Holder 00040 … 00049
    assert "No certificate matches." in client.get(f"/certificates?q={dave[0]}").get_data(as_text=True)
    assert 'href="/certificates?sort=-serial"' in client.get("/certificates").get_data(as_text=True)
    for bad in ("cursor=garbage", "limit=501", "limit=0", "sort=holder"):
        answer = client.get(f"/certificates?{bad}")
        assert answer.status_code == 400, bad
    assert "limit must be 1 to 500" in client.get("/certificates?limit=501").get_data(as_text=True)


def test_my_requests_walks_every_row_once_in_order_while_rows_are_added(client, world, runtime):
    _requests(runtime, world, ROWS)
    _requests(runtime, world, 30, holder="dave")
    with runtime.sessionmaker() as session:
        mine = select(CertificateRequest.id).where(CertificateRequest.user_id == world.id("carol"))
        expected = [str(i) for i in session.execute(mine.order_by(CertificateRequest.id.desc())).scalars()]
    login(client, world.emails["carol"])

    def add_rows(page: int) -> None:
        if page == 3:
            _requests(runtime, world, 4)

    pattern = r'<tr data-request="(\d+)">'
    assert _walk(client, "/requests?limit=100", pattern, add_rows) == expected
    oldest_first = _walk(client, "/requests?limit=500&sort=created", pattern)
    assert [int(i) for i in oldest_first] == sorted(int(i) for i in oldest_first) and len(oldest_first) == ROWS + 4
    rejected = _walk(client, "/requests?limit=500&status=rejected", pattern)
    assert len(rejected) == ROWS // 4 + 1
    for bad in ("cursor=garbage", "limit=501", "status=bogus", "sort=-made"):
        assert client.get(f"/requests?{bad}").status_code == 400, bad


def test_csv_export_is_streamed_complete_and_newest_first(client, world, runtime):
    count = 5000
    _certificates(runtime, world, count)
    _certificates(runtime, world, 7, holder="dave", start=count)
    with runtime.sessionmaker() as session:
        expected = list(session.execute(select(CertificateRecord.serial).where(
            CertificateRecord.company_id == _company_id(runtime)).order_by(CertificateRecord.id.desc())).scalars())
    login(client, world.emails["alice"])
    response = client.get("/admin/certificates.csv", buffered=False)
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv" and "Content-Length" not in response.headers
    chunks = response.iter_encoded()
    first = next(chunks).decode()
    # The first chunk is the header and one batch: the rest is not read from the ledger yet.
    assert first.count("\n") <= EXPORT_BATCH + 1
    body = first + b"".join(chunks).decode()
    response.close()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["serial"] for r in rows] == expected and len(rows) == count + 7
    assert len(body.splitlines()) == count + 8
    searched = client.get("/admin/certificates.csv?q=holder 0123&user=carol@example.com").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(searched)))) == 10
    assert client.get("/admin/certificates.csv?status=bogus").status_code == 400
    assert client.get("/admin/certificates.csv?expiring_days=x").status_code == 400
