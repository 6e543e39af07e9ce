"""The Agency API's pushdown endpoints (X1 over P2-P5): the same service and rules as the dashboard."""
from __future__ import annotations

import sqlalchemy as sa

from webapp.models import Automation, Pushdown, PushdownCopy
from webapp.services import pushdown

from .helpers import email_step, make_account, make_agency
from .test_api import ACTOR, Api, new_token


def _setup(client, db, franchise=True):
    agency, user = make_agency(email="pd-api@agency.test")
    agency.franchise_enabled = franchise
    db.session.commit()
    subs = [make_account(agency, f"outlet-{i}") for i in range(3)]
    automation = None
    if franchise:
        automation = pushdown.save_automation(agency.id, None, pushdown.AutomationInput(
            "Welcome", "subscribes", "News", [email_step(agency)]), ACTOR)
    return agency, subs, automation, Api(client, new_token(user))


def _count(db, model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_create_publish_switch_and_list_through_the_api(client, db, run_jobs):
    agency, subs, automation, api = _setup(client, db)
    created = api.post("/pushdowns", json={"automation_id": automation.id, "account_ids": [subs[0].id],
                                           "select_matching": "outlet-", "activation": {"mode": "none"}})
    assert created.status_code == 201, created.json
    body = created.json
    assert body["status"] == "draft" and body["counts"]["selected"] == 3
    published = api.post(f"/pushdowns/{body['id']}/publish", headers={"Idempotency-Key": "pub-1"})
    assert published.status_code == 202 and published.json["operation"]["total"] == 3
    again = api.post(f"/pushdowns/{body['id']}/publish", headers={"Idempotency-Key": "pub-1"})
    assert again.status_code == 202 and again.json == published.json  # replayed, not published twice
    run_jobs()
    listed = api.get("/pushdowns").json["data"]
    assert listed[0]["counts"] == {"active": 0, "inactive": 3, "missing": 0, "selected": 3, "failed": 0,
                                   "pending": 0}
    switched = api.post(f"/pushdowns/{body['id']}/activate-all")
    assert switched.status_code == 200 and switched.json["counts"]["active"] == 3 and switched.json["active"]
    assert api.post(f"/pushdowns/{body['id']}/deactivate-all").json["counts"]["inactive"] == 3
    page = api.get(f"/pushdowns/{body['id']}/accounts?limit=2")
    assert [r["name"] for r in page.json["data"]] == ["outlet-0", "outlet-1"]
    rest = api.get(f"/pushdowns/{body['id']}/accounts?limit=2&cursor={page.json['next_cursor']}")
    assert [r["name"] for r in rest.json["data"]] == ["outlet-2"] and rest.json["next_cursor"] is None
    assert api.get(f"/pushdowns/{body['id']}/accounts?state=active").json["data"] == []
    # Publishing a published pushdown is refused.
    assert api.post(f"/pushdowns/{body['id']}/publish").status_code == 409


def test_bad_input_is_refused_with_nothing_written(client, db):
    agency, subs, automation, api = _setup(client, db)
    two = api.post("/pushdowns", json={"automation_id": [automation.id, automation.id]})
    assert two.status_code == 422 and "automation_id" in two.json["error"]["fields"]
    foreign = make_account(make_agency("Foreign")[0], "foreign-outlet")
    assert api.post("/pushdowns", json={"automation_id": automation.id,
                                        "account_ids": [foreign.id]}).status_code == 404
    assert api.post("/pushdowns", json={"automation_id": 999999}).status_code == 404
    past = api.post("/pushdowns", json={"automation_id": automation.id, "account_ids": [subs[0].id],
                                        "activation": {"mode": "at", "date": "2001-01-01", "time": "10:00",
                                                       "timezone": "Europe/Paris"}})
    assert past.status_code == 422 and "activate_date" in past.json["error"]["fields"]
    zone = api.post("/pushdowns", json={"automation_id": automation.id, "account_ids": [subs[0].id],
                                        "activation": {"mode": "at", "date": "2099-01-01", "time": "10:00",
                                                       "timezone": "Nowhere/Land"}})
    assert zone.status_code == 422
    assert _count(db, Pushdown) == 0 and _count(db, PushdownCopy) == 0
    empty = api.post("/pushdowns", json={"automation_id": automation.id}).json
    refused = api.post(f"/pushdowns/{empty['id']}/publish")
    assert refused.status_code == 422 and "accounts" in refused.json["error"]["fields"]
    assert api.post(f"/pushdowns/{empty['id']}/activate-all").status_code == 409
    assert _count(db, Automation) == 1


def test_other_agencies_and_non_franchise_agencies(client, db, app):
    agency, subs, automation, api = _setup(client, db)
    row = pushdown.create_draft(agency.id, [automation.id], ACTOR)
    other, other_user = make_agency("Other franchise", email="other-pd@agency.test")
    other.franchise_enabled = True
    db.session.commit()
    other_api = Api(app.test_client(), new_token(other_user))
    for path in (f"/pushdowns/{row.id}/publish", f"/pushdowns/{row.id}/activate-all"):
        assert other_api.post(path).status_code == 404
    assert other_api.get(f"/pushdowns/{row.id}/accounts").status_code == 404
    assert other_api.get("/pushdowns").json["data"] == []
    plain, plain_user = make_agency("Not a franchise", email="plain-pd@agency.test")
    plain_api = Api(app.test_client(), new_token(plain_user))
    assert plain_api.get("/pushdowns").status_code == 403
    assert plain_api.post("/pushdowns", json={"automation_id": automation.id}).status_code in (403, 404)
