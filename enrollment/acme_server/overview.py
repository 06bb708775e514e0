"""What a company administrator sees of ACME in the portal: the domains the operator allowed, and the
company's ACME accounts (every ACME certificate is also in the company's certificate list)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from ca.actor import Actor
from ca.ledger import acme_store
from ca.runtime import Runtime
from ca.scope import own_company


@dataclass(frozen=True)
class AcmeAccountView:
    id: int
    status: str
    contact: tuple[str, ...]
    eab_kid: str
    created_at: datetime


@dataclass(frozen=True)
class AcmeOverview:
    domains: tuple[str, ...]
    accounts: tuple[AcmeAccountView, ...]


def company_acme(runtime: Runtime, actor: Actor) -> AcmeOverview:
    company_id = own_company(actor)
    with runtime.sessionmaker() as session:
        accounts = tuple(AcmeAccountView(id=a.id, status=a.status, contact=tuple(json.loads(a.contact)),
                                         eab_kid=a.eab_kid, created_at=a.created_at)
                         for a in acme_store.list_company_accounts(session, company_id))
        return AcmeOverview(domains=tuple(acme_store.list_company_domains(session, company_id)), accounts=accounts)
