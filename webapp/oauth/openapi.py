"""The OAuth2 part of /api/v1/openapi.json: the `oauth2` security scheme (client credentials flow, RFC 6749
§4.4, with its scopes) and, on every operation open to API clients, the scope it needs.

The scopes come from webapp.oauth.bearer.ROUTE_SCOPES (the rule the API enforces) and the paths from the
application's URL map, so the document cannot drift from what the API does.
"""

from __future__ import annotations

import re
from typing import Any

from werkzeug.routing import Map

from enrollment.api_clients.scopes import SCOPES
from webapp.oauth.bearer import ROUTE_SCOPES

_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

CLIENT_ME = {
    "type": "object",
    "required": ["client_id", "name", "role", "company", "company_name", "scopes", "certificate_bound"],
    "properties": {
        "client_id": {"type": "string"}, "name": {"type": "string"}, "role": {"const": "api-client"},
        "company": {"type": "string"}, "company_name": {"type": "string"},
        "scopes": {"type": "array", "items": {"type": "string", "enum": list(SCOPES)}},
        "certificate_bound": {"type": "boolean", "description": "the token is bound to a certificate (RFC 8705)"},
    },
}


def bearer_scheme(token_url: str) -> dict[str, Any]:
    return {"type": "oauth2", "description": "OAuth2 access token (JWT, RFC 9068) sent as "
            "`Authorization: Bearer`; tokens obtained at the mutual-TLS alias are bound to the client "
            "certificate and must be used with it (RFC 8705).",
            "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": dict(SCOPES)}}}


def document_bearer(document: dict[str, Any], url_map: Map, token_url: str) -> dict[str, Any]:
    """Add the scheme, the API client's /me answer, and `security` with the scope of each client route."""
    document["components"]["securitySchemes"]["oauth2"] = bearer_scheme(token_url)
    document["components"]["schemas"]["ClientMe"] = CLIENT_ME
    people = document["security"]
    for rule in url_map.iter_rules():
        if rule.endpoint not in ROUTE_SCOPES:
            continue
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        scope = ROUTE_SCOPES[rule.endpoint]
        for method in rule.methods or ():
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is None:
                continue
            operation["security"] = [*people, {"oauth2": [scope] if scope else []}]
            if scope:
                operation["description"] = (operation.get("description", "") +
                                            f" API clients need the scope `{scope}`.").strip()
    me = document["paths"]["/api/v1/me"]["get"]["responses"]["200"]["content"]["application/json"]
    me["schema"] = {"anyOf": [me["schema"], {"$ref": "#/components/schemas/ClientMe"}]}
    document["paths"]["/api/v1/me"]["get"]["responses"]["401"]["description"] += \
        " (or a bearer token refused: WWW-Authenticate says why, RFC 6750 §3)"
    return document
