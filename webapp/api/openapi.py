"""The OpenAPI 3.1 description of /api/v1/ (served at /api/v1/openapi.json, checked by schemathesis)."""

from __future__ import annotations

from typing import Any

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": sorted(properties)}


SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": _object({"kind": {"type": "string"}, "message": {"type": "string"}})}),
    "Me": _object({
        "email": {"type": "string"}, "full_name": {"type": "string"},
        "role": {"type": "string", "enum": ["operator", "first-admin", "admin", "user"]},
        "status": {"type": "string"}, "company": NULLABLE_STRING, "company_name": NULLABLE_STRING,
        "requested_company": NULLABLE_STRING, "approval_policy": {"type": ["string", "null"]},
        "may_request_certificates": {"type": "boolean"},
        "csrf_token": {"type": ["string", "null"], "description": "send it as X-CSRF-Token with a session"},
    }),
    "Certificate": _object({
        "serial": {"type": "string", "pattern": "^[0-9a-f]+$"}, "issuer": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "issued", "revoked", "expired", "failed"]},
        "subject": {"type": "string"}, "not_before": {"type": "string", "format": "date-time"},
        "not_after": {"type": "string", "format": "date-time"}, "user": NULLABLE_STRING,
        "company": NULLABLE_STRING, "profile": {"type": "string"}, "revoked_at": NULLABLE_TIME,
        "revocation_reason": NULLABLE_STRING, "last_used_at": NULLABLE_TIME, "sha256": NULLABLE_STRING,
        "predecessor": {"type": ["string", "null"], "description": "serial this certificate renews"},
        "successor": {"type": ["string", "null"], "description": "serial of the certificate that renewed it"},
    }),
    "Request": _object({
        "id": {"type": "integer"}, "user": {"type": "string"}, "user_name": {"type": "string"},
        "kind": {"type": "string", "enum": ["csr", "keygen"]},
        "status": {"type": "string", "enum": ["pending", "approved", "rejected", "issuing", "issued", "failed"]},
        "comment": NULLABLE_STRING, "created_at": {"type": "string", "format": "date-time"},
        "decided_at": NULLABLE_TIME, "certificate_serial": NULLABLE_STRING,
    }),
    "Member": _object({
        "id": {"type": "integer"}, "email": {"type": "string"}, "full_name": {"type": "string"},
        "role": {"type": "string"}, "status": {"type": "string"}, "company": NULLABLE_STRING,
        "live_certificates": {"type": "integer"},
    }),
    "Group": _object({
        "id": {"type": "integer"}, "name": {"type": "string"},
        "members": {"type": "array", "items": _object({"id": {"type": "integer"}, "email": {"type": "string"},
                                                        "full_name": {"type": "string"}})},
        "services": {"type": "array", "items": _object({"code": {"type": "string"}, "name": {"type": "string"}})},
        "perimeter": {"type": "array", "items": _object({"id": {"type": "integer"}, "code": {"type": "string"},
                                                          "label": {"type": "string"}})},
    }),
}

_ERRORS = {
    "400": "the input is wrong (including a missing or wrong X-CSRF-Token with a session)",
    "401": "not logged in",
    "403": "not allowed for this account",
    "404": "no such object, or not visible to this account",
    "409": "conflicts with the current state",
}


def _responses(ok: str, schema: dict[str, Any] | None, *codes: str) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if schema is None:
        responses[ok] = {"description": "done"}
    else:
        responses[ok] = {"description": "success", "content": {"application/json": {"schema": schema}}}
    for code in ("401", "403", "404") + codes:
        responses[code] = {"description": _ERRORS[code],
                           "content": {"application/json": {"schema": _ref("Error")}}}
    return responses


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}


def _list(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _page(name: str) -> dict[str, Any]:
    """The envelope of every paginated list (issue 15 item 2)."""
    return _object({"items": _list(name), "next": {
        "type": ["string", "null"], "description": "cursor of the next page (pass it as `cursor`); null: last page"}})


CERTIFICATE_SORTS = ["issued", "-issued", "not_after", "-not_after", "serial", "-serial"]


def _paging(sorts: list[str]) -> list[dict[str, Any]]:
    return [
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
         "description": "items per page (more than 500 is a 400)"},
        {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "the `next` of the previous page"},
        {"name": "sort", "in": "query", "required": False, "schema": {"type": "string", "enum": sorts},
         "description": "column, `-column` for descending; default newest first"},
        {"name": "q", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 254},
         "description": "search: an e-mail address, a serial (any case, colons allowed), or subject text"},
    ]


SERIAL = {"name": "serial", "in": "path", "required": True, "schema": {"type": "string"},
          "description": "hexadecimal serial number, any case, colons allowed"}


def _id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0,
                                                                    "maximum": 2147483647}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _paths() -> dict[str, Any]:
    days = {"type": "integer", "minimum": 1, "maximum": 3650}
    return {
        "/api/v1/me": {"get": {"summary": "Who is calling", "responses": _responses("200", _ref("Me"))}},
        "/api/v1/certificates": {"get": {"summary": "My certificates (newest first), one page",
                                         "parameters": _paging(CERTIFICATE_SORTS),
                                         "responses": _responses("200", _page("Certificate"), "400")}},
        "/api/v1/certificates/{serial}": {"get": {
            "summary": "One certificate, with its PEM", "parameters": [SERIAL],
            "responses": _responses("200", {"allOf": [_ref("Certificate"), _object({"pem": NULLABLE_STRING})]},
                                    "400")}},
        "/api/v1/certificates/{serial}/revoke": {"post": {
            "summary": "Revoke (\"request deletion\" of one's own certificate)", "parameters": [SERIAL],
            "requestBody": _body({"reason": {"type": "string", "description": "RFC 5280 reason name"}},
                                 ["reason"]),
            "responses": _responses("200", _ref("Certificate"), "400", "409")}},
        "/api/v1/certificates/{serial}/renew": {"post": {
            "summary": "Renew one's live certificate from a CSR (PEM): the successor, without a new approval; "
                       "the predecessor is revoked (superseded) at the successor's first use or grace deadline",
            "parameters": [SERIAL], "requestBody": _body({"csr": {"type": "string"}}, ["csr"]),
            "responses": _responses("201", {"allOf": [_ref("Certificate"), _object({"pem": {"type": "string"}})]},
                                    "400", "409")}},
        "/api/v1/requests": {
            "get": {"summary": "My certificate requests, one page", "parameters": _paging(["created", "-created"]),
                    "responses": _responses("200", _page("Request"), "400")},
            "post": {"summary": "Request a browser certificate from a CSR (PEM)",
                     "requestBody": _body({"csr": {"type": "string"}}, ["csr"]),
                     "responses": _responses("201", _object({"request": _ref("Request"),
                                                            "certificate_serial": NULLABLE_STRING}), "400", "409")}},
        "/api/v1/company/certificates": {"get": {
            "summary": "The company's certificates (administrators)",
            "parameters": [_query("user", {"type": "string"}, "holder's e-mail address"),
                           _query("status", {"type": "string", "enum": ["issued", "revoked", "expired"]}, ""),
                           _query("expiring_days", days, "live and expiring within N days"),
                           _query("unused_days", days, "live and unused for N days"),
                           *_paging(CERTIFICATE_SORTS)],
            "responses": _responses("200", _page("Certificate"), "400")}},
        "/api/v1/company/requests": {"get": {
            "summary": "The company's requests (administrators)",
            "parameters": [_query("status", {"type": "string", "enum": [
                "pending", "approved", "rejected", "issuing", "issued", "failed", "all"]}, "default: pending"),
                           *_paging(["created", "-created"])],
            "responses": _responses("200", _page("Request"), "400")}},
        "/api/v1/company/requests/{request_id}/approve": {"post": {
            "summary": "Approve a pending request", "parameters": [_id("request_id")],
            "requestBody": _body({"comment": {"type": ["string", "null"]}}, []),
            "responses": _responses("200", _ref("Request"), "400", "409")}},
        "/api/v1/company/requests/{request_id}/reject": {"post": {
            "summary": "Reject a pending request with a comment", "parameters": [_id("request_id")],
            "requestBody": _body({"comment": {"type": "string"}}, ["comment"]),
            "responses": _responses("200", _ref("Request"), "400", "409")}},
        "/api/v1/company/users": {
            "get": {"summary": "The company's people, one page",
                    "parameters": _paging(["registered", "-registered", "email", "-email"]),
                    "responses": _responses("200", _page("Member"), "400")},
            "post": {"summary": "Add a person (an activation link is e-mailed)",
                     "requestBody": _body({"email": {"type": "string"}, "full_name": {"type": "string"},
                                           "role": {"type": "string", "enum": ["user", "admin"]}},
                                          ["email", "full_name"]),
                     "responses": _responses("201", _object({"user": _ref("Member"),
                                                            "activation_mail_sent": {"type": "boolean"},
                                                            "link_expires_at": {"type": "string"}}), "400", "409")}},
        "/api/v1/company/users/{user_id}/detach": {"post": {
            "summary": "Detach a person: every certificate of theirs for the company is revoked",
            "parameters": [_id("user_id")],
            "responses": _responses("200", _object({"user": _ref("Member"),
                                                    "revoked": {"type": "array", "items": {"type": "string"}}}),
                                    "400", "409")}},
        "/api/v1/company/groups": {
            "get": {"summary": "The company's groups", "responses": _responses("200", _list("Group"))},
            "post": {"summary": "Create a group", "requestBody": _body({"name": {"type": "string"}}, ["name"]),
                     "responses": _responses("201", _ref("Group"), "400", "409")}},
        "/api/v1/company/groups/{group_id}": {
            "get": {"summary": "One group", "parameters": [_id("group_id")],
                    "responses": _responses("200", _ref("Group"))},
            "patch": {"summary": "Change a group (what is given replaces what was there)",
                      "parameters": [_id("group_id")],
                      "requestBody": _body({"name": {"type": "string"},
                                            "members": {"type": "array", "items": {"type": "integer"}},
                                            "services": {"type": "array", "items": {"type": "string"}},
                                            "perimeter": {"type": "array", "items": {"type": "integer"}}}, []),
                      "responses": _responses("200", _ref("Group"), "400", "409")},
            "delete": {"summary": "Delete a group", "parameters": [_id("group_id")],
                       "responses": _responses("204", None)}},
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Portail PKI enrollment API", "version": "1.0.0",
                 "description": "The enrollment portal's use cases for programs. Authenticate with the "
                                "portal's session cookie (send the csrf_token of /api/v1/me as X-CSRF-Token "
                                "on POST, PATCH and DELETE), with a client certificate of the browser profile, or "
                                "with an OAuth2 access token (`Authorization: Bearer`, scopes per operation)."},
        "servers": [{"url": "/"}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "portail",
                            "description": "`__Host-portail` when the portal is served over HTTPS"},
                "clientCertificate": {"type": "mutualTLS"},
            },
        },
        "security": [{"session": []}, {"clientCertificate": []}],
        "paths": _paths(),
    }
