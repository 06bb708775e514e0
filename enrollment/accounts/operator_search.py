"""The operator-wide search (issue 15 items 2 and 3): one box finds a certificate by serial (any case, with or
without colons), a person by e-mail (any case) and companies by EIC or a part of their name. Each part is an
indexed look-up (migration 0012), so the answer stays fast with 100,000 companies and 10^6 certificates."""

from __future__ import annotations

from dataclasses import dataclass, field

from ca.actor import Actor
from ca.certificates import CertificateView, certificate_views
from ca.ledger import portal_store, store
from ca.ledger.list_store import find_certificates_by_serial, page_companies, serial_of
from ca.pagination import PageRequest
from ca.runtime import Runtime
from enrollment.accounts.companies import company_view
from enrollment.accounts.users import user_view
from enrollment.accounts.views import CompanyView, UserView

COMPANY_HITS = 20


@dataclass(frozen=True)
class SearchResults:
    q: str
    certificates: list[CertificateView] = field(default_factory=list)
    people: list[UserView] = field(default_factory=list)
    companies: list[CompanyView] = field(default_factory=list)
    more_companies: bool = False


def operator_search(runtime: Runtime, actor: Actor, q: str | None) -> SearchResults:
    actor.require_operator()
    request = PageRequest(limit=COMPANY_HITS, q=q).checked(("registered",), "-registered")
    if request.q is None:
        return SearchResults(q="")
    text = request.q
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        serial = serial_of(text)
        certificates = certificate_views(session, find_certificates_by_serial(session, serial), now) \
            if serial else []
        people = []
        if "@" in text:
            person = portal_store.find_user_by_email(session, text)
            if person is not None:
                company = store.get_company(session, person.company_id) if person.company_id else None
                people.append(user_view(person, company.eic if company else None))
        rows, more = page_companies(session, request)
        return SearchResults(q=text, certificates=certificates, people=people,
                             companies=[company_view(c) for c in rows], more_companies=more is not None)
