"""Groups of a company: members, the services they are granted and their perimeter (connection points).

Company administrators manage their own company's groups. Every id given (group, member, connection point)
is looked up inside the actor's company, so another tenant's objects are "not found" (ASVS 8.2.2, 8.4.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ca.actor import Actor
from ca.errors import NotFoundError
from ca.ledger import Session, portal_store, store
from ca.ledger.audit import append_event
from ca.ledger.models import Group
from ca.runtime import Runtime
from ca.scope import own_company
from ca.vocabulary import UserStatus
from ca.x509.names import validate_display_name
from enrollment.accounts.views import ConnectionPointView, MemberView, member_view
from enrollment.groups.views import GroupView, ServiceView


@dataclass(frozen=True)
class GroupsPage:
    """Everything the groups page needs: the groups and the choices their forms offer."""

    groups: list[GroupView]
    members: list[MemberView]
    services: list[ServiceView]
    connection_points: list[ConnectionPointView]


def _company_of(actor: Actor) -> int:
    return own_company(actor, "only a company administrator manages groups")


def _check_name(name: str) -> str:
    return validate_display_name(name, "group name")


def _group_view(session: Session, group: Group, eic: str) -> GroupView:
    users = {u.id: u for u in portal_store.list_company_users(session, group.company_id)}
    services = {s.code: s for s in portal_store.list_services(session)}
    points = {p.id: p for p in portal_store.list_connection_points(session, group.company_id)}
    member_ids = portal_store.list_member_ids(session, group.id)
    return GroupView(
        id=group.id, name=group.name,
        members=sorted((member_view(users[i], eic) for i in member_ids if i in users), key=lambda m: m.email),
        services=[ServiceView(code=c, name=services[c].name)
                  for c in portal_store.list_group_service_codes(session, group.id)
                  if c in services],
        perimeter=sorted((ConnectionPointView(id=points[i].id, code=points[i].code, label=points[i].label)
                          for i in portal_store.list_group_point_ids(session, group.id)
                          if i in points), key=lambda p: p.code),
    )


def groups_page(runtime: Runtime, actor: Actor) -> GroupsPage:
    company_id = _company_of(actor)
    with runtime.sessionmaker() as session:
        eic = store.get_company(session, company_id).eic
        return GroupsPage(
            groups=[_group_view(session, g, eic) for g in portal_store.list_groups(session, company_id)],
            members=[member_view(u, eic) for u in portal_store.list_company_users(session, company_id)
                     if u.status in (UserStatus.ACTIVE, UserStatus.INVITED)],
            services=[ServiceView(code=s.code, name=s.name) for s in portal_store.list_services(session)],
            connection_points=[ConnectionPointView(id=p.id, code=p.code, label=p.label)
                               for p in portal_store.list_connection_points(session, company_id)],
        )


def get_group(runtime: Runtime, actor: Actor, *, group_id: int) -> GroupView:
    company_id = _company_of(actor)
    with runtime.sessionmaker() as session:
        group = portal_store.get_company_group(session, company_id, group_id)
        return _group_view(session, group, store.get_company(session, company_id).eic)


def create_group(runtime: Runtime, actor: Actor, *, name: str) -> GroupView:
    company_id = _company_of(actor)
    name = _check_name(name)
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        group = portal_store.add_group(session, company_id=company_id, name=name)
        append_event(session, at=now, actor=actor.name, action="group.created", object_type="group",
                     object_id=str(group.id), company_id=company_id, details={"name": name},
                     source_ip=actor.source_ip)
        return _group_view(session, group, store.get_company(session, company_id).eic)


def delete_group(runtime: Runtime, actor: Actor, *, group_id: int) -> None:
    company_id = _company_of(actor)
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        group = portal_store.get_company_group(session, company_id, group_id)
        name = group.name
        portal_store.delete_group(session, group)
        append_event(session, at=now, actor=actor.name, action="group.deleted", object_type="group",
                     object_id=str(group_id), company_id=company_id, details={"name": name},
                     source_ip=actor.source_ip)


def _checked_ids(wanted: Iterable[int | str], allowed: set, what: str) -> set:
    chosen = set(wanted)
    unknown = chosen - allowed
    if unknown:
        raise NotFoundError(f"no {what} {', '.join(sorted(str(u) for u in unknown))} in your company")
    return chosen


def update_group(
    runtime: Runtime, actor: Actor, *, group_id: int, name: str | None = None,
    member_ids: Iterable[int] | None = None, service_codes: Iterable[str] | None = None,
    point_ids: Iterable[int] | None = None,
) -> GroupView:
    """Replace what is given (None leaves it as it is); one audit event lists the change."""
    company_id = _company_of(actor)
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        group = portal_store.get_company_group(session, company_id, group_id)
        changes: dict[str, object] = {}
        if name is not None and _check_name(name) != group.name:
            portal_store.rename_group(session, group, _check_name(name))
            changes["name"] = group.name
        if member_ids is not None:
            users = {u.id for u in portal_store.list_company_users(session, company_id)
                     if u.status in (UserStatus.ACTIVE, UserStatus.INVITED)}
            chosen = _checked_ids(member_ids, users, "member")
            current = set(portal_store.list_member_ids(session, group.id))
            for user_id in chosen - current:
                portal_store.add_member(session, group.id, user_id)
            for user_id in current - chosen:
                portal_store.remove_member(session, group.id, user_id)
            if chosen != current:
                changes["members"] = sorted(chosen)
        if service_codes is not None:
            codes = _checked_ids(service_codes, {s.code for s in portal_store.list_services(session)}, "service")
            if codes != set(portal_store.list_group_service_codes(session, group.id)):
                portal_store.set_group_services(session, group.id, codes)
                changes["services"] = sorted(codes)
        if point_ids is not None:
            points = {p.id for p in portal_store.list_connection_points(session, company_id)}
            chosen_points = _checked_ids(point_ids, points, "connection point")
            if chosen_points != set(portal_store.list_group_point_ids(session, group.id)):
                portal_store.set_group_perimeter(session, group.id, chosen_points)
                changes["perimeter"] = sorted(chosen_points)
        if changes:
            append_event(session, at=now, actor=actor.name, action="group.updated", object_type="group",
                         object_id=str(group.id), company_id=company_id, details=changes,
                         source_ip=actor.source_ip)
        return _group_view(session, group, store.get_company(session, company_id).eic)
