"""Query parameters of every paginated list, for the API and the portal alike (issue 15 item 2):
`limit` (default 50, at most 500: more is a 400), `cursor` (opaque, from the previous page's `next`),
`sort` (a column, `-column` for descending) and `q` (search)."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

from ca.pagination import Page, PageRequest, parse_limit


def page_request(args: MultiDict[str, str]) -> PageRequest:
    return PageRequest(limit=parse_limit(args.get("limit")), cursor=args.get("cursor") or None,
                       sort=args.get("sort") or None, q=args.get("q") or None)


def envelope(page: Page[Any]) -> dict[str, Any]:
    """The API's list answer: {"items": [...], "next": CURSOR-or-null}."""
    return {"items": [item.to_dict() for item in page.items], "next": page.next}
