"""Plain views of groups and the services they grant."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from enrollment.accounts.views import ConnectionPointView, MemberView


@dataclass(frozen=True)
class ServiceView:
    code: str
    name: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GroupView:
    id: int
    name: str
    members: list[MemberView] = field(default_factory=list)
    services: list[ServiceView] = field(default_factory=list)
    perimeter: list[ConnectionPointView] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name,
                "members": [{"id": m.id, "email": m.email, "full_name": m.full_name} for m in self.members],
                "services": [s.to_dict() for s in self.services],
                "perimeter": [p.to_dict() for p in self.perimeter]}

