"""The OAuth2 tests share the portal's fixtures (runtime → world → app → client)."""

from tests.portal.conftest import (  # noqa: F401
    app,
    client,
    pg_runtime,
    runtime,
    world,
    world_template,
)
