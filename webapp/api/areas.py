"""The API's areas beyond the core of routes.py (accounts, plans, credits, invoices, pushdowns).

Each area module registers its views on the one blueprint and gives
- `spec(catalog, languages)`: its part of the OpenAPI document ({"paths", "schemas", "tags"}), merged
  by openapi.build, so the views, the validator, Schemathesis and the docs page all see it;
- `TWINS`: {dashboard endpoint: API endpoint} for what it makes the API do, read by parity.py."""
from __future__ import annotations

from . import automations, billing, branding, commission, openapi, reports, team, transfers, webhooks

AREAS = (branding, billing, transfers, automations, commission, reports, team, webhooks)


def document(catalog, languages) -> dict:
    """The Agency API's one OpenAPI document: the core (openapi.py) and every area's part."""
    return openapi.build(catalog, languages, AREAS)
