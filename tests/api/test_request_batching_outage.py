"""A ledger that cannot be written (another process holds SQLite's write lock past the busy timeout) fails
every upload of the batch with a 503 and its error shape — never a 500, never a caller left waiting — and
the next batch, once the lock is gone, issues again (enrollment.requests.request_batcher)."""

from __future__ import annotations

import sqlite3

import pytest

from ca.errors import LedgerUnavailableError
from tests.api.test_api import _session
from tests.api.test_request_batching import one_batch, upload
from tests.vectors.bad_csrs import good_csr


@pytest.fixture
def environ(environ):  # a short busy timeout: the lock below makes the ledger unavailable within 0.2 s
    return {**environ, "PKI_DATABASE__SQLITE_BUSY_TIMEOUT_MS": "200"}


def _lock(database_url: str) -> sqlite3.Connection:
    holder = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's write lock
def test_a_locked_ledger_fails_the_whole_batch_with_503_then_issues_again(client, world, runtime, database_url):
    headers = _session(client, world, "carol")
    uploads = [upload(runtime, world, name) for name in ("carol", "dave", "frank")]
    holder = _lock(database_url)
    try:
        outcomes = one_batch(runtime, uploads)
        assert all(isinstance(outcome, LedgerUnavailableError) for outcome in outcomes), outcomes
        answer = client.post("/api/v1/requests", json={"csr": good_csr("ec-p256")[1].decode()}, headers=headers)
        assert answer.status_code == 503, answer.get_data(as_text=True)
        assert set(answer.get_json()["error"]) == {"kind", "message"}
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    again = client.post("/api/v1/requests", json={"csr": good_csr("ec-p256")[1].decode()}, headers=headers)
    assert again.status_code == 201 and again.get_json()["certificate_serial"]
    listed = client.get("/api/v1/requests").get_json()["items"]
    assert [r["status"] for r in listed] == ["issued"]  # nothing of the failed batch was recorded
