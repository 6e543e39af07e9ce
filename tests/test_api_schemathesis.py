"""Schemathesis against the served OpenAPI document (X1): generated requests to every operation,
with a valid token and a few of the agency's own accounts to hit. No answer may be a 5xx, and every
answer must conform to the document (status, content type, body schema). Examples are bounded so
the whole run stays well under a minute."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)

from webapp.api import areas
from webapp.catalog import load_catalog
from webapp.config import DEFAULT_CATALOG_PATH
from webapp.services import api_tokens, billing
from webapp.services.accounts import LANGUAGES
from webapp.services.audit import Actor

from .helpers import make_account, make_agency

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


# One test per operation, listed from the document itself (built here from the catalog file, as the
# app builds it), so a new endpoint is fuzzed without anyone adding it here.
OPERATIONS = [(path, method) for path, item in areas.document(load_catalog(DEFAULT_CATALOG_PATH), LANGUAGES)["paths"]
              .items() for method in item]


@pytest.fixture(scope="module")
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def bearer(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", 100_000)
    agency, user = make_agency(email="fuzz@agency.test")
    billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=2040, cvc="123",
                      actor=Actor.system())
    make_account(agency, "fuzz-trial", plan_term="trial", contact_limit=500, admin_password="fuzz-password-1")
    make_account(agency, "fuzz-paid", admin_password="fuzz-password-2")
    make_account(agency, "fuzz-old", status="expired")
    billing.buy_prepaid(agency.id, 5000, account=None, actor=Actor.system())
    return api_tokens.create(user, "schemathesis", Actor.system())[1]


@pytest.mark.parametrize("path, method", OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_api_conforms_to_its_document(api_schema, bearer, path, method, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=8, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(headers={"Authorization": f"Bearer {bearer}"}, checks=CHECKS)

    run()
