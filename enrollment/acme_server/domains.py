"""The identifier policy: the operator lists the DNS domains a company may ask for, subdomains included;
anything else is `rejectedIdentifier` (RFC 8555 §6.7)."""

from __future__ import annotations

import re

from ca.actor import Actor
from ca.errors import BadRequestError, NotFoundError
from ca.ledger import Session, acme_store
from ca.ledger.audit import append_event
from ca.runtime import Runtime
from ca.scope import find_company
from enrollment.acme_server.errors import PREFIX, AcmeError

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain(value: str) -> str | None:
    """Lowercase LDH name without the trailing dot, or None when it is not a DNS name (RFC 1123 §2.1)."""
    name = value.strip().lower().rstrip(".")
    if not name or len(name) > 253:
        return None
    labels = name.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return None
    return name


def add_company_domain(runtime: Runtime, actor: Actor, *, company_eic: str, domain: str) -> list[str]:
    """Operators only: which names a company may certify is the CA's decision."""
    actor.require_operator()
    name = normalize_domain(domain)
    if name is None:
        raise BadRequestError(f"{domain!r} is not a DNS domain name")
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        company = find_company(session, company_eic)
        acme_store.add_company_domain(session, company_id=company.id, domain=name, at=now)
        append_event(session, at=now, actor=actor.name, action="company.domain.added", object_type="company",
                     object_id=company.eic, company_id=company.id, details={"domain": name},
                     source_ip=actor.source_ip)
        return acme_store.list_company_domains(session, company.id)


def list_company_domains(runtime: Runtime, actor: Actor, *, company_eic: str) -> list[str]:
    with runtime.sessionmaker() as session:
        company = find_company(session, company_eic)
        if not actor.can_see_company(company.id):
            raise NotFoundError(f"no company with EIC {company.eic}")
        return acme_store.list_company_domains(session, company.id)


def is_allowed(name: str, domains: list[str]) -> bool:
    return any(name == domain or name.endswith("." + domain) for domain in domains)


def check_identifiers(session: Session, company_id: int, identifiers: list[tuple[str, str]]) -> list[str]:
    """The order's DNS names, normalized and sorted; every refusal is listed as a subproblem (§6.7.1)."""
    if not identifiers:
        raise AcmeError("malformed", "the order names no identifier")
    if len(identifiers) > 100:
        raise AcmeError("rejectedIdentifier", "an order may name at most 100 identifiers")
    domains = acme_store.list_company_domains(session, company_id)
    names: set[str] = set()
    problems: list[dict[str, object]] = []
    for kind, value in identifiers:
        if kind != "dns":
            problems.append(_sub("unsupportedIdentifier", kind, value, f"identifier type {kind!r} is not supported"))
            continue
        name = normalize_domain(value)
        if name is None:
            detail = ("wildcard names need dns-01, which this server does not offer" if value.startswith("*.")
                      else f"{value!r} is not a DNS name")
            problems.append(_sub("rejectedIdentifier", kind, value, detail))
        elif not is_allowed(name, domains):
            problems.append(_sub("rejectedIdentifier", kind, value,
                                 f"{name} is not among the domains this company may use"))
        else:
            names.add(name)
    if problems:
        first = problems[0]
        raise AcmeError(str(first["type"]).rsplit(":", 1)[-1],
                        "; ".join(str(p["detail"]) for p in problems), subproblems=problems)
    return sorted(names)


def _sub(acme_type: str, kind: str, value: str, detail: str) -> dict[str, object]:
    return {"type": PREFIX + acme_type, "detail": detail, "identifier": {"type": kind, "value": value}}
