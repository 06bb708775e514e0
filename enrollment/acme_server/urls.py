"""The ACME server's URLs (RFC 8555 §7.1), all under one public base so that the JWS `url` check (§6.4)
compares with what the client was given."""

from __future__ import annotations

from dataclasses import dataclass

MAX_ID = 2**31 - 1  # ledger ids are 32-bit integers on PostgreSQL


@dataclass(frozen=True)
class Urls:
    base: str  # scheme://host:port, no trailing slash

    def _url(self, path: str) -> str:
        return f"{self.base}/acme/{path}"

    @property
    def directory(self) -> str:
        return self._url("directory")

    @property
    def new_nonce(self) -> str:
        return self._url("new-nonce")

    @property
    def new_account(self) -> str:
        return self._url("new-account")

    @property
    def new_order(self) -> str:
        return self._url("new-order")

    @property
    def revoke_cert(self) -> str:
        return self._url("revoke-cert")

    @property
    def key_change(self) -> str:
        return self._url("key-change")

    def account(self, account_id: int) -> str:
        return self._url(f"account/{account_id}")

    def orders(self, account_id: int) -> str:
        return self._url(f"account/{account_id}/orders")

    def order(self, order_id: int) -> str:
        return self._url(f"order/{order_id}")

    def finalize(self, order_id: int) -> str:
        return self._url(f"order/{order_id}/finalize")

    def authorization(self, authorization_id: int) -> str:
        return self._url(f"authz/{authorization_id}")

    def challenge(self, challenge_id: int) -> str:
        return self._url(f"chall/{challenge_id}")

    def certificate(self, order_id: int) -> str:
        return self._url(f"cert/{order_id}")

    def account_id(self, kid: str) -> int | None:
        prefix = self._url("account/")
        tail = kid[len(prefix):] if kid.startswith(prefix) else ""
        return int(tail) if tail.isdigit() and len(tail) < 11 and int(tail) <= MAX_ID else None

    def directory_json(self) -> dict[str, object]:
        return {"newNonce": self.new_nonce, "newAccount": self.new_account, "newOrder": self.new_order,
                "revokeCert": self.revoke_cert, "keyChange": self.key_change,
                "meta": {"externalAccountRequired": True}}
