"""The Agency API's abuse and bounce reports beyond the list (X1 over S6, N3): one report, and acknowledging
it with a reply, over the same service and rules as the dashboard's report page."""
from __future__ import annotations

import sqlalchemy as sa

from webapp.models import AbuseReport, AuditEvent
from webapp.services import api_tokens

from .helpers import make_account, make_agency, make_member
from .test_api import ACTOR, Api, error_of, new_token


def _report(db, agency, account, **fields):
    report = AbuseReport(agency_id=agency.id, account_id=account.id, kind="bounce", severity="medium",
                         description="Hard bounces", evidence="550 5.1.1", **fields)
    db.session.add(report)
    db.session.commit()
    return report


def _setup(client, db):
    agency, owner = make_agency(email="reports-api@agency.test")
    account = make_account(agency, "bouncy-shop")
    return agency, owner, account, _report(db, agency, account), Api(client, new_token(owner))


def test_read_one_report_then_acknowledge_it_once(client, db):
    agency, owner, account, report, api = _setup(client, db)
    got = api.get(f"/reports/{report.id}")
    assert got.status_code == 200
    assert got.json["account_name"] == "bouncy-shop" and got.json["status"] == "open"
    assert got.json["agency_reply"] is None
    done = api.post(f"/reports/{report.id}/acknowledge", json={"reply": "  We cleaned the list.  "})
    assert done.status_code == 200, done.json
    assert done.json["status"] == "acknowledged" and done.json["agency_reply"] == "We cleaned the list."
    assert done.json["acknowledged_at"]
    db.session.expire_all()
    row = db.session.get(AbuseReport, report.id)
    assert row.acknowledged_by_id == owner.id  # the token's creator replied
    assert db.session.scalar(sa.select(AuditEvent.actor).where(AuditEvent.action == "report_acknowledged")) \
        .startswith("api_token:")
    again = api.post(f"/reports/{report.id}/acknowledge", json={"reply": "Twice"})
    error_of(again, 409, "conflict")
    assert db.session.get(AbuseReport, report.id).agency_reply == "We cleaned the list."


def test_a_bad_reply_is_a_422_naming_the_field_and_nothing_changes(client, db):
    agency, owner, account, report, api = _setup(client, db)
    for payload in ({}, {"reply": "   "}, {"reply": 5}, {"reply": "x" * 5001}, {"reply": "ok", "extra": 1}):
        error = error_of(api.post(f"/reports/{report.id}/acknowledge", json=payload), 422, "validation_failed")
        assert set(error["fields"]) & {"reply", "extra"}, (payload, error)
    db.session.expire_all()
    assert db.session.get(AbuseReport, report.id).status == "open"


def test_another_agencys_report_is_not_found(client, db, app):
    agency, owner, account, report, api = _setup(client, db)
    rival, rival_owner = make_agency("Rival", email="rival-reports@agency.test")
    theirs = _report(db, rival, make_account(rival, "rival-shop"))
    error_of(api.get(f"/reports/{theirs.id}"), 404, "not_found")
    error_of(api.post(f"/reports/{theirs.id}/acknowledge", json={"reply": "Not mine"}), 404, "not_found")
    error_of(api.get("/reports/999999"), 404)
    db.session.expire_all()
    assert db.session.get(AbuseReport, theirs.id).status == "open"


def test_a_read_token_reads_but_cannot_acknowledge_and_a_billing_member_cannot_either(client, db, app):
    agency, owner, account, report, api = _setup(client, db)
    reader = Api(app.test_client(), api_tokens.create(owner, "reader", ACTOR, scope="read")[1])
    assert reader.get(f"/reports/{report.id}").status_code == 200
    error_of(reader.post(f"/reports/{report.id}/acknowledge", json={"reply": "Read only"}), 403,
             "insufficient_scope")
    billing_user = make_member(agency, "billing")
    biller = Api(app.test_client(), new_token(billing_user))
    assert biller.get(f"/reports/{report.id}").status_code == 200  # everyone in the team sees reports
    error_of(biller.post(f"/reports/{report.id}/acknowledge", json={"reply": "Billing"}), 403, "forbidden")
    db.session.expire_all()
    assert db.session.get(AbuseReport, report.id).status == "open"
