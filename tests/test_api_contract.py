"""X1: the contract. The served OpenAPI document is a valid OpenAPI 3.1 document (openapi-spec-validator),
and the request validator is jsonschema's Draft 2020-12 (the dialect of OpenAPI 3.1) with our field
messages: one problem per field, by its path, in the reader's language."""
from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from webapp.api.validation import Validator, check_body
from webapp.services.errors import ValidationFailed


def test_the_served_document_is_valid_openapi_3_1(client):
    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)  # raises on any fault
    assert document["openapi"] == "3.1.0"


def test_the_validator_would_catch_a_broken_document(app):
    broken = {**app.extensions["openapi"], "paths": {"/x": {"get": {"responses": {"200": {"description": 1}}}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


COMPONENTS = {"schemas": {
    "Plan": {"type": "object", "properties": {"tier": {"type": "string", "enum": ["lite", "pro"]},
                                               "limit": {"type": "integer", "minimum": 500, "maximum": 100000}},
             "required": ["tier"], "additionalProperties": False},
    "Body": {"type": "object", "additionalProperties": False, "required": ["name", "plan"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 10, "pattern": "^[a-z]*$"},
        "plan": {"$ref": "#/components/schemas/Plan"},
        "note": {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2, "uniqueItems": True},
        "mode": {"const": "fast"},
    }},
}}


def _errors(value):
    return Validator(COMPONENTS).errors({"$ref": "#/components/schemas/Body"}, value)


def test_problems_are_one_per_field_by_path_in_words(app):
    with app.test_request_context():
        assert _errors({"name": "abc", "plan": {"tier": "lite"}}) == {}
        assert _errors({"plan": {"tier": "gold", "limit": 10, "colour": "red"}, "extra": 1}) == {
            "name": "This field is required.", "extra": "Unknown field.",
            "plan.tier": 'Must be one of: "lite", "pro".', "plan.limit": "Must be at least 500.",
            "plan.colour": "Unknown field."}
        assert _errors({"name": "", "plan": {"tier": "pro", "limit": 200000}}) == {
            "name": "Must not be empty.", "plan.limit": "Must be at most 100000."}
        assert _errors({"name": "ABC", "plan": "pro"}) == {
            "name": "Has characters or a form that is not allowed.", "plan": "Must be an object."}
        # keywords the old hand-written subset did not know: minItems, uniqueItems, const
        assert _errors({"name": "a", "plan": {"tier": "pro"}, "tags": [], "mode": "slow"}) == {
            "tags": "Must have at least 1 items.", "mode": 'Must be one of: "fast".'}
        assert _errors({"name": "a", "plan": {"tier": "pro"}, "tags": ["x", "x"]}) == {
            "tags": "Must not list the same value twice."}
        assert _errors({"name": "a", "plan": {"tier": "pro"}, "tags": ["x", 5]}) == {"tags[1]": "Must be a string."}
        # anyOf: the option the value is nearest to is the one explained
        assert _errors({"name": "a", "plan": {"tier": "pro"}, "note": "long"}) == {
            "note": "Must be at most 3 characters."}
        assert _errors({"name": "a", "plan": {"tier": "pro"}, "note": 5}) == {"note": "Must be a string / null."}


def test_text_the_database_cannot_store_is_refused_anywhere(app):
    with app.test_request_context():
        assert _errors({"name": "a\x00", "plan": {"tier": "pro"}})["name"].startswith("This text cannot be stored")
        assert _errors({"name": "a", "plan": {"tier": "pro"}, "tags": ["\ud800"]})["tags[0]"].startswith(
            "This text cannot be stored")


def test_messages_follow_the_readers_language(app):
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        from flask_babel import force_locale
        with force_locale("fr"), pytest.raises(ValidationFailed) as refused:
            check_body(Validator(COMPONENTS), {"$ref": "#/components/schemas/Body"}, {"plan": {"tier": "pro"}})
        assert refused.value.fields == {"name": "Ce champ est obligatoire."}


def test_a_month_out_of_the_calendar_is_a_422_not_a_500(client, db):
    from .helpers import make_agency
    from .test_api import new_token
    _agency, user = make_agency(email="months@agency.test")
    headers = {"Authorization": f"Bearer {new_token(user)}"}
    for month in ("0000-01", "9999-12"):
        answer = client.get(f"/api/v1/invoices?month={month}", headers=headers)
        assert answer.status_code == 422 and "month" in answer.get_json()["error"]["fields"]
    assert client.get("/api/v1/invoices?month=2026-11", headers=headers).status_code == 200
