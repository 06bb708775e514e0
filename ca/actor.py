"""Who is acting: every use case receives one and scopes by it (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass

from ca.errors import NotAuthorizedError
from ca.vocabulary import ADMIN_ROLES, ActorKind, Role


@dataclass(frozen=True)
class Actor:
    """`operator` acts for the CA; `user` acts within `company_id` with `role`; `system` is the CA itself."""

    kind: ActorKind
    name: str
    user_id: int | None = None
    company_id: int | None = None
    role: Role | None = None  # for kind == user
    source_ip: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.kind in (ActorKind.OPERATOR, ActorKind.SYSTEM)

    @property
    def is_company_admin(self) -> bool:
        return self.kind == ActorKind.USER and self.role in ADMIN_ROLES

    @property
    def is_first_admin(self) -> bool:
        return self.kind == ActorKind.USER and self.role == Role.FIRST_ADMIN

    def require_operator(self) -> None:
        if not self.is_operator:
            raise NotAuthorizedError("only a CA operator may do this")

    def may_see_certificate(self, company_id: int | None, user_id: int | None) -> bool:
        """Operators see every certificate; administrators their company's; users their own (ASVS 8.2.2)."""
        if self.is_operator:
            return True
        if self.company_id is None or company_id != self.company_id:
            return False
        return self.is_company_admin or user_id == self.user_id

    def can_see_company(self, company_id: int | None) -> bool:
        return self.is_operator or (company_id is not None and company_id == self.company_id)


def cli_operator(name: str = "cli") -> Actor:
    """The CLI runs on the CA host with the ledger credentials: it acts as an operator."""
    return Actor(kind=ActorKind.OPERATOR, name=f"operator:{name}")


SYSTEM = Actor(kind=ActorKind.SYSTEM, name="system")
