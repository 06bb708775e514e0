"""RFC 8555 §7.1.6 status changes with time, as read by a client of the real HTTPS server: a pending
object carries Retry-After (§7.4, §8.2); past its `expires` an order reads `invalid` (§7.1.3) and its
authorization `expired`, without Retry-After (nothing left to wait for)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from ca.ledger.acme_models import AcmeAuthorization, AcmeOrder
from tests.acme.conftest import AcmeWorld
from tests.acme.raw import RawClient


def test_expired_order_reads_invalid_and_its_authorization_expired(acme_world: AcmeWorld) -> None:
    client = RawClient(acme_world)
    assert client.register().status == 201
    created = client.order("www.example.test")
    assert created.status == 201 and created.json()["status"] == "pending"
    order_url, authz_url = created.headers["Location"], created.json()["authorizations"][0]
    for url in (order_url, authz_url):
        pending = client.post(url, None)
        assert pending.json()["status"] == "pending" and int(pending.headers["Retry-After"]) > 0, pending.headers

    order_id = int(order_url.rsplit("/", 1)[1])
    past = acme_world.runtime.clock.now() - timedelta(minutes=1)
    with acme_world.runtime.sessionmaker.begin() as session:
        session.execute(update(AcmeOrder).where(AcmeOrder.id == order_id).values(expires_at=past))
        session.execute(update(AcmeAuthorization).where(AcmeAuthorization.order_id == order_id)
                        .values(expires_at=past))

    order = client.post(order_url, None)
    assert order.status == 200 and order.json()["status"] == "invalid", order.body
    assert "Retry-After" not in order.headers
    authorization = client.post(authz_url, None)
    assert authorization.status == 200 and authorization.json()["status"] == "expired", authorization.body
    assert "Retry-After" not in authorization.headers
    # A fresh order is unaffected.
    assert client.order("api.example.test").json()["status"] == "pending"
