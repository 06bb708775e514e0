"""Services (front-office applications a group can be granted) and connection points (a company's grid
connections, which make up a group's perimeter).

Services come from configuration (`config/services.toml`, or `portal.services_file`); the ledger keeps
the list groups refer to. Connection points are registered by the operator, who knows the grid.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ca.actor import Actor
from ca.errors import BadRequestError, ConflictError
from ca.ledger import portal_store
from ca.ledger.audit import append_event
from ca.runtime import Runtime
from ca.scope import find_company, one_company
from ca.settings import Settings
from ca.x509.names import validate_display_name
from enrollment.accounts.views import ConnectionPointView
from enrollment.groups.views import ServiceView

BUNDLED_SERVICES = Path(__file__).resolve().parents[2] / "config" / "services.toml"
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_POINT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")


def service_definitions(settings: Settings) -> list[ServiceView]:
    path = Path(settings.portal.services_file) if settings.portal.services_file else BUNDLED_SERVICES
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadRequestError(f"services file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadRequestError(f"services file {path} is not valid TOML: {exc}") from None
    views = []
    for entry in data.get("service", []):
        code, name = str(entry.get("code", "")), " ".join(str(entry.get("name", "")).split())
        if not _CODE.match(code) or not 1 <= len(name) <= 128:
            raise BadRequestError(f"{path}: service {code!r} needs a code (a-z, 0-9, '-') and a name")
        views.append(ServiceView(code=code, name=name))
    return views


def seed_services(runtime: Runtime, actor: Actor) -> list[str]:
    """Bring the ledger's services in line with the configuration; returns the codes added or renamed.

    Services are never deleted here: groups may still refer to them.
    """
    actor.require_operator()
    definitions = service_definitions(runtime.settings)
    try:
        return _seed(runtime, actor, definitions)
    except ConflictError:  # several portal workers start together: another one seeded first; look again
        return _seed(runtime, actor, definitions)


def _seed(runtime: Runtime, actor: Actor, definitions: list[ServiceView]) -> list[str]:
    now = runtime.clock.now()
    changed = []
    with runtime.sessionmaker.begin() as session:
        for service in definitions:
            if portal_store.put_service(session, code=service.code, name=service.name):
                changed.append(service.code)
                append_event(session, at=now, actor=actor.name, action="service.defined", object_type="service",
                             object_id=service.code, details={"name": service.name}, source_ip=actor.source_ip)
    return changed


def list_services(runtime: Runtime, actor: Actor) -> list[ServiceView]:
    with runtime.sessionmaker() as session:
        return [ServiceView(code=s.code, name=s.name) for s in portal_store.list_services(session)]


def add_connection_point(runtime: Runtime, actor: Actor, *, company_eic: str, code: str,
                         label: str) -> ConnectionPointView:
    actor.require_operator()
    code, label = code.strip(), validate_display_name(label, "connection point label", max_length=128)
    if not _POINT_CODE.match(code):
        raise BadRequestError("a connection point code is 1 to 64 letters, digits, '.', '_', '/' or '-'")
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        company = find_company(session, company_eic)
        point = portal_store.add_connection_point(session, company_id=company.id, code=code, label=label)
        append_event(session, at=now, actor=actor.name, action="connection_point.added",
                     object_type="connection_point", object_id=code, company_id=company.id,
                     details={"label": label}, source_ip=actor.source_ip)
        return ConnectionPointView(id=point.id, code=point.code, label=point.label)


def list_connection_points(runtime: Runtime, actor: Actor, *, company_eic: str | None = None
                           ) -> list[ConnectionPointView]:
    with runtime.sessionmaker() as session:
        if actor.company_id is None and not actor.is_operator:
            return []
        company_id = one_company(session, actor, company_eic, admins_only=False)
        return [ConnectionPointView(id=p.id, code=p.code, label=p.label)
                for p in portal_store.list_connection_points(session, company_id)]
