"""The Agency API's pushdowns beyond tests/test_api_pushdown.py (X1 over P1-P9) and the parent account's
automations: read, edit and schedule a draft, delete it, push an update, retry the failed copies, the
report's figures; list, read, build, edit and delete the parent's automations, with the editor's checks."""
from __future__ import annotations

import re
from datetime import date, timedelta

import sqlalchemy as sa

from webapp.models import Automation, AutomationVersion, HostedAccount, Pushdown, PushdownCopy
from webapp.services import api_tokens, pushdown

from .helpers import email_step, login, make_account, make_agency, make_member
from .test_api import ACTOR, Api, error_of, new_token

LATER = (date.today() + timedelta(days=30)).isoformat()


def _count(db, model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _patch(api, path, json):
    return api.client.patch(f"/api/v1{path}", json=json, headers=api._headers(None))


def _setup(client, db, email="auto-api@agency.test", prefix="outlet"):
    agency, owner = make_agency(email=email)
    agency.franchise_enabled = True
    db.session.commit()
    subs = [make_account(agency, f"{prefix}-{i}") for i in range(3)]
    automation = pushdown.save_automation(agency.id, None, pushdown.AutomationInput(
        "Welcome", "subscribes", "News", [email_step(agency)]), ACTOR)
    return agency, owner, subs, automation, Api(client, new_token(owner))


def _draft(api, automation, account_ids):
    created = api.post("/pushdowns", json={"automation_id": automation.id, "account_ids": account_ids})
    assert created.status_code == 201, created.json
    return created.json


# ---- pushdowns ------------------------------------------------------------------------------------------

def test_edit_a_draft_schedule_it_and_back_to_a_draft(client, db):
    agency, owner, subs, automation, api = _setup(client, db)
    other = pushdown.save_automation(agency.id, None, pushdown.AutomationInput(
        "Birthday", "date_based", "birthday", [{"type": "add_tag", "tag": "vip"}]), ACTOR)
    draft = _draft(api, automation, [subs[0].id])
    got = api.get(f"/pushdowns/{draft['id']}").json
    assert got["status"] == "draft" and got["publish_at"] is None and got["counts"]["selected"] == 1
    edited = _patch(api, f"/pushdowns/{draft['id']}", {"automation_id": other.id,
                                                       "account_ids": [subs[1].id, subs[2].id]})
    assert edited.status_code == 200, edited.json
    assert edited.json["automation_id"] == other.id and edited.json["counts"]["selected"] == 2
    chosen = set(db.session.scalars(sa.select(PushdownCopy.account_id).where(PushdownCopy.pushdown_id == draft["id"])))
    assert chosen == {subs[1].id, subs[2].id}
    scheduled = _patch(api, f"/pushdowns/{draft['id']}", {
        "schedule": {"date": LATER, "time": "09:30", "timezone": "Europe/Paris"},
        "activation": {"mode": "on_push"}})
    assert scheduled.status_code == 200, scheduled.json
    assert scheduled.json["status"] == "scheduled" and scheduled.json["publish_timezone"] == "Europe/Paris"
    assert scheduled.json["publish_at"].startswith(LATER) and scheduled.json["activation_mode"] == "on_push"
    # What is left out keeps its value: still scheduled, at the same time, with the same activation.
    kept = _patch(api, f"/pushdowns/{draft['id']}", {"select_matching": "outlet-0"})
    assert kept.status_code == 200, kept.json
    assert (kept.json["status"], kept.json["publish_at"], kept.json["activation_mode"]) == \
        ("scheduled", scheduled.json["publish_at"], "on_push")
    assert kept.json["counts"]["selected"] == 3
    back = _patch(api, f"/pushdowns/{draft['id']}", {"schedule": None})
    assert back.json["status"] == "draft" and back.json["publish_at"] is None
    assert api.get(f"/pushdowns/{draft['id']}").json == back.json


def test_bad_edits_are_422s_naming_the_field_and_write_nothing(client, db):
    agency, owner, subs, automation, api = _setup(client, db)
    draft = _draft(api, automation, [subs[0].id])
    path = f"/pushdowns/{draft['id']}"
    closed = make_account(agency, "closed-outlet", status="expired")
    cases = [({"schedule": {"date": "2001-01-01", "time": "10:00", "timezone": "Europe/Paris"}}, "publish_date"),
             ({"schedule": {"date": LATER, "time": "10:00", "timezone": "Nowhere/Land"}}, "publish_tz"),
             ({"schedule": {"date": LATER, "time": "10:00"}}, "schedule.timezone"),
             ({"account_ids": [closed.id]}, "accounts"),
             ({"account_ids": ["one"]}, "account_ids[0]"),
             ({"status": "published"}, "status"),
             ({"account_ids": [], "schedule": {"date": LATER, "time": "10:00", "timezone": "UTC"}}, "accounts")]
    for payload, field in cases:
        error = error_of(_patch(api, path, payload), 422, "validation_failed")
        assert field in error["fields"], (payload, error)
    foreign = make_account(make_agency("Foreign")[0], "foreign-outlet")
    error_of(_patch(api, path, {"account_ids": [foreign.id]}), 404)
    error_of(_patch(api, path, {"automation_id": 999999}), 404)
    db.session.expire_all()
    row = db.session.get(Pushdown, draft["id"])
    assert row.status == "draft" and row.automation_id == automation.id
    assert set(db.session.scalars(sa.select(PushdownCopy.account_id).where(PushdownCopy.pushdown_id == row.id))) \
        == {subs[0].id}


def test_delete_only_a_draft(client, db, run_jobs):
    agency, owner, subs, automation, api = _setup(client, db)
    draft = _draft(api, automation, [subs[0].id])
    gone = api.post(f"/pushdowns/{draft['id']}/delete")
    assert gone.status_code == 200 and gone.json == {"id": draft["id"], "deleted": True}
    assert _count(db, Pushdown) == 0 and _count(db, PushdownCopy) == 0 and _count(db, Automation) == 1
    error_of(api.get(f"/pushdowns/{draft['id']}"), 404)
    published = _draft(api, automation, [subs[0].id])
    assert api.post(f"/pushdowns/{published['id']}/publish").status_code == 202
    error_of(api.post(f"/pushdowns/{published['id']}/delete"), 409, "conflict")
    error_of(_patch(api, f"/pushdowns/{published['id']}", {"select_matching": ""}), 409, "conflict")
    assert _count(db, Pushdown) == 1


def test_push_an_update_retry_the_failed_and_the_reports_figures(client, db, run_jobs):
    agency, owner, subs, automation, api = _setup(client, db)
    row = _draft(api, automation, [s.id for s in subs])
    subs[1].status = "disabled"  # chosen while in use, disabled before its copy
    db.session.commit()
    assert api.post(f"/pushdowns/{row['id']}/publish").status_code == 202
    run_jobs()
    report = api.get(f"/pushdowns/{row['id']}/report").json
    assert report["figures"] == {"active": 0, "inactive": 2, "pending": 0, "failed": 1, "deleted": 0}
    assert report["parent_changed"] is False and report["changes"] == [] and report["parent_version"] == 1
    assert report["operation"]["status"] == "succeeded" and report["version_pushed_at"]
    error_of(api.post(f"/pushdowns/{row['id']}/update"), 409, "conflict")  # nothing new to push
    db.session.get(HostedAccount, subs[1].id).status = "active"
    db.session.commit()
    retried = api.post(f"/pushdowns/{row['id']}/retry")
    assert retried.status_code == 202 and retried.json["pushdown"]["counts"]["pending"] == 1
    run_jobs()
    assert api.get(f"/pushdowns/{row['id']}/report").json["figures"]["inactive"] == 3
    error_of(api.post(f"/pushdowns/{row['id']}/retry"), 409, "conflict")  # none failed
    pushdown.save_automation(agency.id, automation.id, pushdown.AutomationInput(
        "Welcome again", "subscribes", "News", [email_step(agency, subject="Hello")]), ACTOR)
    changed = api.get(f"/pushdowns/{row['id']}/report").json
    assert changed["parent_changed"] is True and changed["parent_version"] == 2
    assert any(line.startswith("+") and "Welcome again" in line for line in changed["changes"])
    updated = api.post(f"/pushdowns/{row['id']}/update", headers={"Idempotency-Key": "upd-1"})
    assert updated.status_code == 202 and updated.json["pushdown"]["version_number"] == 2
    assert api.post(f"/pushdowns/{row['id']}/update", headers={"Idempotency-Key": "upd-1"}).json == updated.json
    run_jobs()
    db.session.expire_all()
    copies = db.session.scalars(sa.select(Automation).where(Automation.source_pushdown_id == row["id"])).all()
    assert len(copies) == 3 and {c.current_version for c in copies} == {2}
    assert api.get(f"/pushdowns/{row['id']}/report").json["parent_changed"] is False


def test_drafts_cannot_be_updated_or_retried(client, db):
    agency, owner, subs, automation, api = _setup(client, db)
    draft = _draft(api, automation, [subs[0].id])
    error_of(api.post(f"/pushdowns/{draft['id']}/update"), 409)
    error_of(api.post(f"/pushdowns/{draft['id']}/retry"), 409)
    error_of(api.post(f"/pushdowns/{draft['id']}/retry", json={"now": True}), 422)


def test_another_agencys_pushdowns_and_automations_are_not_found(client, db, app):
    agency, owner, subs, automation, api = _setup(client, db)
    draft = _draft(api, automation, [subs[0].id])
    rival, rival_owner, rival_subs, rival_automation, rival_api = _setup(app.test_client(), db,
                                                                         "auto-rival@agency.test", "rival")
    for path in (f"/pushdowns/{draft['id']}", f"/pushdowns/{draft['id']}/report",
                 f"/automations/{automation.id}"):
        error_of(rival_api.get(path), 404, "not_found")
    for path in ("delete", "update", "retry"):
        error_of(rival_api.post(f"/pushdowns/{draft['id']}/{path}"), 404, "not_found")
    error_of(_patch(rival_api, f"/pushdowns/{draft['id']}", {"select_matching": ""}), 404)
    error_of(_patch(rival_api, f"/automations/{automation.id}", {"name": "Mine now"}), 404)
    error_of(rival_api.post(f"/automations/{automation.id}/delete"), 404)
    assert [a["id"] for a in rival_api.get("/automations").json["data"]] == [rival_automation.id]
    # Their automation cannot be pushed by us either.
    error_of(_patch(api, f"/pushdowns/{draft['id']}", {"automation_id": rival_automation.id}), 404)
    assert _count(db, Pushdown) == 1 and db.session.get(Automation, automation.id).deleted_at is None


# ---- the parent account's automations -------------------------------------------------------------------

def test_build_read_edit_and_delete_the_parents_automations(client, db):
    agency, owner, subs, automation, api = _setup(client, db)
    templates = api.get("/automations/templates").json["data"]
    assert len(templates) == 1
    steps = [{"type": "send_email", "subject": "  Hi  there ", "from_name": "Shop", "template_id": templates[0]["id"]},
             {"type": "wait", "amount": 2, "unit": "days"},
             {"type": "condition", "tag": "buyer", "otherwise": "stop"},
             {"type": "notify", "email": "boss@agency.test"}]
    created = api.post("/automations", json={"name": "Onboarding", "trigger_kind": "tag_added",
                                             "trigger_value": "new", "steps": steps})
    assert created.status_code == 201, created.json
    body = created.json
    assert body["current_version"] == 1 and body["trigger_kind"] == "tag_added" and body["trigger_value"] == "new"
    assert body["steps"][0]["subject"] == "Hi there" and body["steps"][0]["template_name"] == templates[0]["name"]
    assert body["steps"][0]["html"] and body["steps"][0]["message_changed"] is False
    assert body["steps"][1] == {"type": "wait", "amount": 2, "unit": "days"}
    assert api.get(f"/automations/{body['id']}").json == body
    assert [a["name"] for a in api.get("/automations").json["data"]] == ["Onboarding", "Welcome"]
    assert [a["name"] for a in api.get("/automations?q=onb").json["data"]] == ["Onboarding"]
    renamed = _patch(api, f"/automations/{body['id']}", {"name": "Onboarding v2"})
    assert renamed.status_code == 200, renamed.json
    assert renamed.json["current_version"] == 2 and renamed.json["steps"] == body["steps"]
    assert renamed.json["trigger_value"] == "new"
    assert _count(db, AutomationVersion, AutomationVersion.automation_id == body["id"]) == 2
    shorter = _patch(api, f"/automations/{body['id']}", {"steps": [{"type": "add_tag", "tag": "vip"}]})
    assert shorter.json["steps"] == [{"type": "add_tag", "tag": "vip"}] and shorter.json["name"] == "Onboarding v2"
    gone = api.post(f"/automations/{body['id']}/delete")
    assert gone.status_code == 200 and gone.json == {"id": body["id"], "deleted": True}
    error_of(api.get(f"/automations/{body['id']}"), 404)
    assert db.session.get(Automation, body["id"]).deleted_at is not None


def test_the_editors_checks_name_each_step_field(client, db):
    agency, owner, subs, automation, api = _setup(client, db)
    cases = [
        ({"name": "X", "trigger_kind": "subscribes", "trigger_value": "News",
          "steps": [{"type": "send_email", "subject": "", "from_name": "Shop", "template_id": 999999}]},
         {"steps[0].subject", "steps[0].template_id"}),
        ({"name": "X", "trigger_kind": "subscribes", "trigger_value": "News",
          "steps": [{"type": "wait", "amount": 400, "unit": "days"}]}, {"steps[0].amount"}),
        ({"name": "X", "trigger_kind": "subscribes", "trigger_value": "News",
          "steps": [{"type": "notify", "email": "nobody"}]}, {"steps[0].email"}),
        ({"name": "X", "trigger_kind": "subscribes", "trigger_value": "", "steps": []},
         {"trigger_value", "steps"}),
        ({"name": "X", "trigger_kind": "subscribes", "steps": [{"type": "jump"}]}, {"steps[0].type"}),
        ({"name": "X", "trigger_kind": "never", "steps": [{"type": "add_tag", "tag": "a"}]}, {"trigger_kind"}),
        ({"trigger_kind": "subscribes", "steps": [{"type": "add_tag", "tag": "a"}]}, {"name"}),
        ({"name": "X", "trigger_kind": "subscribes", "trigger_value": "N",
          "steps": [{"type": "add_tag", "tag": "a", "colour": "red"}]}, {"steps[0].colour"}),
    ]
    for payload, fields in cases:
        error = error_of(api.post("/automations", json=payload), 422, "validation_failed")
        assert fields <= set(error["fields"]), (payload, error)
    error = error_of(_patch(api, f"/automations/{automation.id}", {"steps": [{"type": "add_tag", "tag": " "}]}), 422)
    assert "steps[0].tag" in error["fields"]
    assert _count(db, Automation) == 1 and db.session.get(Automation, automation.id).current_version == 1


def test_roles_franchise_and_a_read_token(client, db, app):
    agency, owner, subs, automation, api = _setup(client, db)
    draft = _draft(api, automation, [subs[0].id])
    biller = Api(app.test_client(), new_token(make_member(agency, "billing")))
    error_of(biller.get("/automations"), 403, "forbidden")
    error_of(biller.post(f"/pushdowns/{draft['id']}/delete"), 403, "forbidden")
    member = Api(app.test_client(), new_token(make_member(agency, "member")))
    assert member.get(f"/pushdowns/{draft['id']}/report").status_code == 200
    reader = Api(app.test_client(), api_tokens.create(owner, "reader", ACTOR, scope="read")[1])
    assert reader.get(f"/automations/{automation.id}").status_code == 200
    error_of(reader.post(f"/pushdowns/{draft['id']}/delete"), 403, "insufficient_scope")
    error_of(_patch(reader, f"/automations/{automation.id}", {"name": "Read only"}), 403, "insufficient_scope")
    error_of(reader.post("/automations", json={"name": "R", "trigger_kind": "subscribes", "trigger_value": "N",
                                               "steps": [{"type": "add_tag", "tag": "a"}]}), 403, "insufficient_scope")
    plain, plain_owner = make_agency("Plain", email="auto-plain@agency.test")
    plain_api = Api(app.test_client(), new_token(plain_owner))
    error_of(plain_api.get("/automations"), 403, "forbidden")
    error_of(plain_api.post("/automations", json={"name": "P", "trigger_kind": "subscribes", "trigger_value": "N",
                                                  "steps": [{"type": "add_tag", "tag": "a"}]}), 403)
    assert _count(db, Pushdown) == 1 and _count(db, Automation) == 1


def test_what_the_api_schedules_the_dashboards_wizard_shows_and_keeps(client, db, app):
    """One reading of a pushdown's stored instants as typed (wizard.activation_of, schedule_of), for both."""
    agency, owner, subs, automation, api = _setup(client, db)
    draft = _draft(api, automation, [subs[0].id])
    done = _patch(api, f"/pushdowns/{draft['id']}", {
        "schedule": {"date": LATER, "time": "09:30", "timezone": "Asia/Tokyo"},
        "activation": {"mode": "at", "date": LATER, "time": "18:45", "timezone": "America/New_York"}})
    assert done.status_code == 200, done.json
    browser = app.test_client()
    login(browser, owner.email)
    html = browser.get(f"/automations/{draft['id']}/edit").get_data(as_text=True)
    for name, value in (("publish_date", LATER), ("publish_time", "09:30"), ("publish_tz", "Asia/Tokyo"),
                        ("activate_date", LATER), ("activate_time", "18:45"), ("activate_tz", "America/New_York")):
        assert re.search(rf'name="{name}"[^>]*value="{re.escape(value)}"|value="{re.escape(value)}"[^>]*name="{name}"',
                         html), name
