"""The dashboards (issue 15 item 3): for operators, every company; for a company administrator, theirs only
(the same counts, scoped by ca.scope.own_company). CRL and OCSP freshness per issuer is operators' only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ca.actor import Actor
from ca.ledger.dashboard_store import certificate_counts, count_companies, issuer_freshness
from ca.runtime import Runtime
from ca.scope import own_company


@dataclass(frozen=True)
class IssuerFreshness:
    name: str
    status: str
    crl_number: int | None
    crl_this_update: datetime | None
    crl_next_update: datetime | None
    ocsp_oldest_next_update: datetime | None

    def stale(self, now: datetime) -> bool:
        """A CRL past its nextUpdate, or a stored OCSP answer past its own: the upkeep fell behind."""
        return (self.crl_next_update is None or self.crl_next_update <= now
                or (self.ocsp_oldest_next_update is not None and self.ocsp_oldest_next_update <= now))


@dataclass(frozen=True)
class Dashboard:
    at: datetime
    live: int
    expiring_30_days: int
    pending_requests: int
    revoked_7_days: int
    companies: int | None = None
    issuers: list[IssuerFreshness] = field(default_factory=list)


def operator_dashboard(runtime: Runtime, actor: Actor) -> Dashboard:
    actor.require_operator()
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        counts = certificate_counts(session, None, now)
        issuers = [IssuerFreshness(name=name, status=status, crl_number=crl.crl_number if crl else None,
                                   crl_this_update=crl.this_update if crl else None,
                                   crl_next_update=crl.next_update if crl else None, ocsp_oldest_next_update=oldest)
                   for name, status, crl, oldest in issuer_freshness(session)]
        return Dashboard(at=now, live=counts["live"], expiring_30_days=counts["expiring_30_days"],
                         pending_requests=counts["pending_requests"], revoked_7_days=counts["revoked_7_days"],
                         companies=count_companies(session), issuers=issuers)


def company_dashboard(runtime: Runtime, actor: Actor) -> Dashboard:
    company_id = own_company(actor, "only a company administrator sees the company's dashboard")
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        counts = certificate_counts(session, company_id, now)
        return Dashboard(at=now, live=counts["live"], expiring_30_days=counts["expiring_30_days"],
                         pending_requests=counts["pending_requests"], revoked_7_days=counts["revoked_7_days"])
