"""X1: the API does what the dashboard does. Every state-changing endpoint of an agency area of the
dashboard has an API twin in webapp/api/parity.py, or a written reason why not; every twin named
there exists, and changes something too."""
from __future__ import annotations

from webapp.api import parity

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _endpoints(app):
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        found.setdefault(rule.endpoint, set()).update(rule.methods or ())
    return found


def test_every_state_changing_dashboard_endpoint_has_an_api_twin_or_a_reason(app):
    endpoints, twins = _endpoints(app), parity.twins()
    missing = sorted(endpoint for endpoint, methods in endpoints.items()
                     if endpoint.split(".")[0] in parity.AGENCY_BLUEPRINTS and methods & STATE_CHANGING
                     and endpoint not in twins and endpoint not in parity.EXCEPTIONS)
    assert not missing, f"dashboard endpoints with no API twin and no reason in webapp/api/parity.py: {missing}"


def test_every_twin_is_a_state_changing_api_endpoint_and_every_entry_a_dashboard_endpoint(app):
    endpoints, twins = _endpoints(app), parity.twins()
    for dashboard, api in twins.items():
        assert dashboard in endpoints, f"{dashboard} is not a dashboard endpoint any more"
        assert api.startswith("api.") and api in endpoints, f"{dashboard}'s twin {api} does not exist"
        assert endpoints[api] & STATE_CHANGING, f"{api} changes nothing, so it cannot twin {dashboard}"
    for dashboard, reason in parity.EXCEPTIONS.items():
        assert dashboard in endpoints, f"the exception {dashboard} is not a dashboard endpoint any more"
        assert dashboard not in twins, f"{dashboard} has a twin and an exception"
        assert len(reason) > 40, f"{dashboard}: say why it has no API twin"
