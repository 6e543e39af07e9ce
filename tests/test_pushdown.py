"""Pushdown automations (P1-P10): rules of the service, the publish operation, exact counts, the
switch for all, scheduled publish and activation across a daylight-saving change, and the pages."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from webapp.models import Automation, AutomationVersion, Operation, Pushdown, PushdownCopy
from webapp.services import automations as account_automations
from webapp.services import operations, pushdown
from webapp.services.audit import Actor
from webapp.services.errors import Conflict, Forbidden, NotFound, ValidationFailed

from .helpers import csrf_token, email_step, login, make_account, make_agency

ACTOR = Actor("user:0", "tests")
STEPS = [{"type": "send_email", "subject": "Welcome!"}, {"type": "wait", "amount": "2", "unit": "days"},
         {"type": "add_tag", "tag": "onboarded"}, {"type": "condition", "tag": "vip", "otherwise": "stop"},
         {"type": "notify", "email": "owner@agency.test"}]


def _franchise(db, **kw):
    agency, user = make_agency(**kw)
    agency.franchise_enabled = True
    db.session.commit()
    return agency, user


def _steps(agency, steps):
    """STEPS with each send-e-mail step's message: a template of the parent account (issue 23)."""
    return [email_step(agency, s["subject"]) if s["type"] == "send_email" and "template_id" not in s else s
            for s in steps]


def _automation(agency, name="Welcome series", steps=STEPS):
    return pushdown.save_automation(agency.id, None, pushdown.AutomationInput(name, "subscribes", "Newsletter",
                                                                              _steps(agency, steps)), ACTOR)


def _count(db, model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_p10_only_franchise_partners(db):
    agency, _ = make_agency()
    with pytest.raises(Forbidden):
        _automation(agency)
    pushdown.set_franchise(agency.id, True, ACTOR)
    assert _automation(agency).current_version == 1


def test_p1_automation_versions_and_step_rules(db):
    agency, _ = _franchise(db)
    row = _automation(agency)
    v1 = pushdown.version(row)
    assert v1.steps[1] == {"type": "wait", "amount": 2, "unit": "days"} and v1.trigger_config == {"list": "Newsletter"}
    with pytest.raises(ValidationFailed) as exc:
        pushdown.save_automation(agency.id, row.id, pushdown.AutomationInput(
            "", "nope", "", [{"type": "wait", "amount": "0"}, {"type": "notify", "email": "bad"},
                             {"type": "rm -rf"}, {"type": "send_email", "subject": " "}]), ACTOR)
    assert set(exc.value.fields) == {"name", "trigger_kind", "steps-0-amount", "steps-1-email", "steps-2-type",
                                     "steps-3-subject", "steps-3-from_name", "steps-3-template_id"}
    db.session.refresh(row)
    assert row.current_version == 1  # nothing written
    pushdown.save_automation(agency.id, row.id, pushdown.AutomationInput(
        "Welcome series", "subscribes", "Newsletter", _steps(agency, STEPS[:2]) + [{"type": "add_tag", "tag": "welcomed"}]),
        ACTOR)
    assert row.current_version == 2
    changes = pushdown.diff(row, 1, 2)
    assert any(line.startswith("-") and "onboarded" in line for line in changes)
    assert any(line.startswith("+") and "welcomed" in line for line in changes)
    other, _ = _franchise(db, name="Other")
    with pytest.raises(NotFound):
        pushdown.parent_automation(other.id, row.id)


def _published(db, agency, n=5, activation="none"):
    row = _automation(agency)
    accounts = [make_account(agency, f"sub-{i}-{agency.id}") for i in range(n)]
    pd = pushdown.create_draft(agency.id, [row.id], ACTOR)
    pushdown.select(pd, [a.id for a in accounts])
    op = pushdown.publish(pd, pushdown.ActivationInput(mode=activation), ACTOR)
    return row, accounts, pd, op


def test_p3_p4_publish_copies_once_and_counts_are_exact(db, run_jobs):
    agency, _ = _franchise(db)
    row, accounts, pd, op = _published(db, agency, n=7)
    assert pushdown.counts([pd.id])[pd.id] == {"active": 0, "inactive": 0, "missing": 7, "selected": 7,
                                               "failed": 0, "pending": 7}
    run_jobs()
    db.session.expire_all()
    op = db.session.get(Operation, op.id)
    assert op.status == "succeeded" and op.progress == op.total == 7 and op.result["copied"] == 7
    assert pushdown.counts([pd.id])[pd.id] == {"active": 0, "inactive": 7, "missing": 0, "selected": 7,
                                               "failed": 0, "pending": 0}
    copies = db.session.scalars(sa.select(Automation).where(Automation.source_pushdown_id == pd.id)).all()
    assert sorted(c.account_id for c in copies) == sorted(a.id for a in accounts)
    assert all(pushdown.version(c).steps == pushdown.version(row).steps for c in copies)
    # The same operation run again does nothing twice.
    db.session.execute(sa.update(Operation).where(Operation.id == op.id).values(status="queued"))
    db.session.commit()
    operations.run(op.id)
    assert _count(db, Automation, Automation.source_pushdown_id == pd.id) == 7
    assert _count(db, AutomationVersion, AutomationVersion.automation_id.in_([c.id for c in copies])) == 7

    # P5: one switch for all, exact at once.
    pushdown.switch(pd, True, ACTOR)
    assert pushdown.counts([pd.id])[pd.id]["active"] == 7
    # P8: a sub-account's admin deletes its copy: missing.
    account_automations.delete_in_account(accounts[0], copies[0].id if copies[0].account_id == accounts[0].id else
                                          next(c.id for c in copies if c.account_id == accounts[0].id), ACTOR)
    assert pushdown.counts([pd.id])[pd.id] | {} == {"active": 6, "inactive": 0, "missing": 1, "selected": 7,
                                                    "failed": 0, "pending": 0}
    pushdown.switch(pd, False, ACTOR)
    assert pushdown.counts([pd.id])[pd.id]["inactive"] == 6
    rows, _next = pushdown.report(pd, state="missing")
    assert [r.name for r in rows] == [accounts[0].name]

    # P6: editing the parent changes no sub-account until pushed again.
    pushdown.save_automation(agency.id, row.id, pushdown.AutomationInput("Welcome series v2", "subscribes", "News",
                                                                         _steps(agency, STEPS[:1])), ACTOR)
    assert {c.current_version for c in db.session.scalars(sa.select(Automation).where(
        Automation.source_pushdown_id == pd.id))} == {1}
    listed = pushdown.listing(agency.id)[0]
    assert listed["parent_changed"] is True
    pushdown.push_update(pd, ACTOR)
    run_jobs()
    db.session.expire_all()
    copies = db.session.scalars(sa.select(Automation).where(Automation.source_pushdown_id == pd.id)).all()
    assert len(copies) == 7 and {c.current_version for c in copies} == {2} and {c.name for c in copies} == {
        "Welcome series v2"}
    assert all(c.deleted_at is None for c in copies)  # the update brings a deleted copy back
    assert {c.active for c in copies} == {False}  # never active in one and inactive in another
    with pytest.raises(Conflict):
        pushdown.push_update(pd, ACTOR)


def test_bad_input_is_refused_and_nothing_is_written(db):
    agency, _ = _franchise(db)
    a1, a2 = _automation(agency, "One"), _automation(agency, "Two")
    with pytest.raises(ValidationFailed) as exc:
        pushdown.create_draft(agency.id, [a1.id, a2.id], ACTOR)
    assert "exactly one" in exc.value.fields["automation_id"]
    with pytest.raises(ValidationFailed):
        pushdown.create_draft(agency.id, [], ACTOR)
    assert _count(db, Pushdown) == 0
    pd = pushdown.create_draft(agency.id, [a1.id], ACTOR)
    with pytest.raises(ValidationFailed) as exc:
        pushdown.publish(pd, pushdown.ActivationInput(), ACTOR)
    assert "at least one" in exc.value.fields["accounts"]
    foreign = make_account(make_agency("Foreign")[0], "foreign-sub")
    mine = make_account(agency, "mine-sub")
    with pytest.raises(NotFound):
        pushdown.select(pd, [mine.id, foreign.id])
    cancelled = make_account(agency, "gone-sub", status="cancelled",
                             period_end=datetime.now(timezone.utc).date() - timedelta(days=1))
    with pytest.raises(ValidationFailed):
        pushdown.select(pd, [cancelled.id])
    assert pushdown.selected_count(pd) == 0
    for activation, field in [(pushdown.ActivationInput("at", "2001-01-01", "10:00", "Europe/Paris"), "activate_date"),
                              (pushdown.ActivationInput("at", "2099-01-01", "10:00", "Mars/Olympus"), "activate_tz"),
                              (pushdown.ActivationInput("at", "2099-03-29", "02:30", "Europe/Paris"), "activate_time"),
                              (pushdown.ActivationInput("sometimes"), "activation")]:
        with pytest.raises(ValidationFailed) as exc:
            pushdown.set_activation(pd, activation)
        assert field in exc.value.fields
    pushdown.select(pd, [mine.id])
    pushdown.publish(pd, pushdown.ActivationInput(), ACTOR)
    with pytest.raises(Conflict):
        pushdown.select(pd, [mine.id])
    with pytest.raises(Conflict):
        pushdown.delete_draft(pd, ACTOR)
    draft = pushdown.create_draft(agency.id, [a2.id], ACTOR)
    pushdown.select_matching(draft, "sub")
    pushdown.delete_draft(draft, ACTOR)  # P7: the automation stays
    assert db.session.get(Automation, a2.id) is not None and db.session.get(Pushdown, draft.id) is None
    with pytest.raises(NotFound):
        pushdown.pushdown(make_agency("Third")[0].id, pd.id)


def test_a_failure_on_one_sub_account_is_shown_and_retried_alone(db, run_jobs):
    agency, _ = _franchise(db)
    row, accounts, pd, op = _published(db, agency, n=3)
    accounts[1].status = "disabled"
    db.session.commit()
    run_jobs()
    db.session.expire_all()
    numbers = pushdown.counts([pd.id])[pd.id]
    assert numbers["failed"] == 1 and numbers["inactive"] == 2
    failed = db.session.scalar(sa.select(PushdownCopy).where(PushdownCopy.status == "failed"))
    assert failed.account_id == accounts[1].id and "disabled" in failed.error
    accounts[1].status = "active"
    db.session.commit()
    pushdown.retry_failed(pd, ACTOR)
    run_jobs()
    db.session.expire_all()
    assert pushdown.counts([pd.id])[pd.id]["inactive"] == 3
    assert _count(db, Automation, Automation.source_pushdown_id == pd.id) == 3
    with pytest.raises(Conflict):
        pushdown.retry_failed(pd, ACTOR)


def test_scheduled_publish_and_activation_fire_at_the_instant_across_dst(app, db, run_jobs, monkeypatch):
    agency, _ = _franchise(db)
    row = _automation(agency)
    sub = make_account(agency, "dst-sub")
    pd = pushdown.create_draft(agency.id, [row.id], ACTOR)
    pushdown.select(pd, [sub.id])
    # The night clocks go back in New York (2030-11-03): 01:30 happens twice; we take the first.
    pushdown.schedule(pd, pushdown.ActivationInput("at", "2030-11-03", "09:00", "America/New_York"),
                      "2030-11-02", "23:00", "America/New_York", ACTOR)
    assert pd.status == "scheduled"
    assert pd.publish_at == datetime(2030, 11, 3, 3, 0, tzinfo=timezone.utc)  # EDT, UTC-4
    assert pd.activate_at == datetime(2030, 11, 3, 14, 0, tzinfo=timezone.utc)  # EST, UTC-5 after the change
    from webapp.services.pushdown import publishing, scheduled, switching, wizard

    def clock(instant):  # the pushdown service's clock: run_due, and the publish and switch it fires
        for module in (wizard, switching, publishing, scheduled):
            monkeypatch.setattr(module, "utcnow", lambda: instant)

    clock(datetime(2030, 11, 3, 2, 59, tzinfo=timezone.utc))
    pushdown.run_due()
    assert db.session.get(Pushdown, pd.id).status == "scheduled"
    clock(datetime(2030, 11, 3, 3, 0, tzinfo=timezone.utc))
    pushdown.run_due()
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Pushdown, pd.id).status == "published"
    assert pushdown.counts([pd.id])[pd.id]["inactive"] == 1
    clock(datetime(2030, 11, 3, 13, 59, tzinfo=timezone.utc))
    pushdown.run_due()
    assert pushdown.counts([pd.id])[pd.id]["active"] == 0
    clock(datetime(2030, 11, 3, 14, 0, tzinfo=timezone.utc))
    pushdown.run_due()
    db.session.expire_all()
    assert pushdown.counts([pd.id])[pd.id]["active"] == 1 and db.session.get(Pushdown, pd.id).activated_at
    assert ZoneInfo("America/New_York")  # the zone database is there


def test_activate_on_push(db, run_jobs):
    agency, _ = _franchise(db)
    _row, _accounts, pd, _op = _published(db, agency, n=3, activation="on_push")
    run_jobs()
    db.session.expire_all()
    assert pushdown.counts([pd.id])[pd.id]["active"] == 3 and db.session.get(Pushdown, pd.id).active


# ---- the pages ------------------------------------------------------------------------------------

def _form(client, path):
    return csrf_token(client.get(path).get_data(as_text=True))


def test_p10_agencies_without_pushdown_see_what_it_is(client, db):
    make_agency(email="plain@agency.test")
    login(client, "plain@agency.test")
    page = client.get("/automations")
    assert page.status_code == 200 and "franchise" in page.get_data(as_text=True)
    assert client.get("/automations/new").status_code == 403
    assert client.get("/automations/library/new").status_code == 403


def test_the_pages_build_push_switch_and_report(client, db, run_jobs):
    agency, _ = _franchise(db, email="pages@agency.test")
    subs = [make_account(agency, f"shop-{i}", client_name=f"Shop {i}") for i in range(3)]
    make_account(agency, "other-store")
    login(client, "pages@agency.test")
    # P1: the editor's buttons work without JavaScript (a plain POST re-renders, saving nothing)...
    token = _form(client, "/automations/library/new")
    message = email_step(agency)
    base = {"csrf_token": token, "name": "Welcome {{7*7}}", "trigger_kind": "subscribes", "trigger_value": "News",
            "steps-0-type": "send_email", "steps-0-subject": "Hi", "steps-0-from_name": "Shops",
            "steps-0-template_id": message["template_id"]}
    added = client.post("/automations/library/new", data={**base, "action": "add-wait"})
    assert added.status_code == 200 and 'name="steps-1-type" value="wait"' in added.get_data(as_text=True)
    # ... and with htmx only the step list comes back.
    fragment = client.post("/automations/library/steps", headers={"HX-Request": "true", "X-CSRFToken": token},
                           data={**base, "steps-1-type": "wait", "steps-1-amount": "3", "action": "up-1"})
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and body.index('value="wait"') < body.index('value="send_email"')
    bad = client.post("/automations/library/new", data={**base, "steps-1-type": "wait", "steps-1-amount": "x",
                                                         "action": "save"})
    assert bad.status_code == 422 and "Wait between" in bad.get_data(as_text=True)
    saved = client.post("/automations/library/new", data={**base, "steps-1-type": "wait", "steps-1-amount": "3",
                                                           "action": "save"})
    assert saved.status_code == 303
    automation = db.session.scalar(sa.select(Automation))
    assert "Welcome {{7*7}}" in client.get("/automations/library").get_data(as_text=True)

    # P3: one automation, the sub-accounts, publish.
    two = client.get(f"/automations/new?automation_id={automation.id}&automation_id={automation.id + 1}")
    assert two.status_code == 422 and "exactly one" in two.get_data(as_text=True)
    wizard = client.get(f"/automations/new?automation_id={automation.id}")  # nothing written before a save
    assert wizard.status_code == 200 and db.session.scalar(sa.select(Pushdown)) is None
    base = {"csrf_token": token, "automation_id": automation.id, "activation": "none"}
    empty = client.post("/automations/new", data={**base, "action": "now"})
    assert empty.status_code == 422 and "Select at least one sub-account" in empty.get_data(as_text=True)
    search = client.post("/automations/new", headers={"HX-Request": "true", "X-CSRFToken": token},
                         data={**base, "q": "shop"})
    assert "3 matches" in search.get_data(as_text=True) and "other-store" not in search.get_data(as_text=True)
    picked = client.post("/automations/new", headers={"HX-Request": "true", "X-CSRFToken": token},
                         data={**base, "q": "shop", "action": "add_matching"})
    assert "3 sub-accounts selected" in picked.get_data(as_text=True)
    foreign = make_account(make_agency("Foreign")[0], "foreign-shop")
    refused = client.post("/automations/new", data={**base, "match": "shop", "action": f"add:{foreign.id}"},
                          headers={"HX-Request": "true", "X-CSRFToken": token})
    assert refused.status_code == 404
    past = client.post("/automations/new", data={
        **base, "match": "shop", "activation": "at", "activate_date": "2001-01-01", "activate_time": "10:00",
        "activate_tz": "Europe/Paris", "action": "now"})
    assert past.status_code == 422 and "future" in past.get_data(as_text=True)
    assert db.session.scalar(sa.select(Pushdown)) is None
    published = client.post("/automations/new", data={**base, "match": "shop", "action": "now"})
    assert published.status_code == 303
    pd = db.session.scalar(sa.select(Pushdown))
    edit = f"/automations/{pd.id}/edit"
    assert pushdown.selected_count(pd) == 3
    run_jobs()
    listing = client.get("/automations").get_data(as_text=True)
    assert "Published" in listing and 'data-count="inactive">3<' in listing
    assert client.get(edit).status_code == 302  # a published pushdown is viewed, not edited
    assert client.post(edit, data={**base, "action": "clear"}).status_code == 302
    client.post(f"/automations/{pd.id}/switch", data={"csrf_token": token, "active": "1"})
    view = client.get(f"/automations/{pd.id}").get_data(as_text=True)
    assert 'data-count="active">3<' in view and "pushdown-chart" in view and "Shop 1" in view
    report = client.get(f"/automations/{pd.id}?state=inactive", headers={"HX-Request": "true"})
    assert "No sub-account in this view" in report.get_data(as_text=True)
    assert client.post(f"/automations/{pd.id}/delete", data={"csrf_token": token}).status_code == 303
    assert db.session.get(Pushdown, pd.id) is not None  # not a draft: not deleted
    other = client.application.test_client()
    make_agency(email="nosy@agency.test")[0].franchise_enabled = True
    db.session.commit()
    login(other, "nosy@agency.test")
    for path in (f"/automations/{pd.id}", edit, f"/automations/{pd.id}/progress"):
        assert other.get(path).status_code == 404


def test_support_switches_pushdown_on_for_an_agency(client, db):
    from webapp.models import Agency, AuditEvent
    from .helpers import make_support
    agency, _ = make_agency("Franchise Co")
    make_support()
    login(client, "staff@agencyhq.test")
    page = client.get("/support/agencies?q=franchise").get_data(as_text=True)
    assert "Franchise Co" in page
    client.post(f"/support/agencies/{agency.id}/franchise", data={"csrf_token": csrf_token(page), "enabled": "1"})
    db.session.expire_all()
    assert db.session.get(Agency, agency.id).franchise_enabled
    assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.action == "franchise_enabled"))
    assert client.post("/support/agencies/999999/franchise", data={"csrf_token": csrf_token(page),
                                                                   "enabled": "1"}).status_code == 404


def test_an_account_that_leaves_the_agency_leaves_its_pushdowns_and_keeps_its_copy(db, run_jobs):
    """P5, P6, A3, A4: a sub-account transferred to another agency and one detached keep the copy they
    hold as their own automation; the previous agency's counts, switch and update no longer reach them."""
    from webapp.models import HostedAccount, SupportRequest
    from webapp.services import support

    from .helpers import make_support
    agency, _ = _franchise(db)
    other, _ = make_agency(email="next@agency.test")
    row, accounts, pd, _op = _published(db, agency, n=4)
    run_jobs()
    pushdown.switch(pd, True, ACTOR)
    requests = [SupportRequest(kind="transfer", status="open", agency_id=other.id, account_id=accounts[0].id,
                               subject="Transfer"),
                SupportRequest(kind="detach", status="open", agency_id=agency.id, account_id=accounts[1].id,
                               subject="Detach", payload={"client_email": "owner@detached.test"})]
    db.session.add_all(requests)
    db.session.commit()
    staff = make_support()
    for request in requests:
        support.decide(request.id, approve=True, reason="", staff=staff, actor=ACTOR)
    assert pushdown.counts([pd.id])[pd.id] == {"active": 2, "inactive": 0, "missing": 0, "selected": 2,
                                               "failed": 0, "pending": 0}
    pushdown.switch(pd, False, ACTOR)
    pushdown.save_automation(agency.id, row.id, pushdown.AutomationInput("Welcome series v2", "subscribes",
                                                                        "Newsletter", _steps(agency, STEPS)), ACTOR)
    pushdown.push_update(db.session.get(Pushdown, pd.id), ACTOR)
    run_jobs()
    db.session.expire_all()
    kept = {a.account_id: a for a in db.session.scalars(sa.select(Automation).where(
        Automation.account_id.in_([a.id for a in accounts])))}
    for left in accounts[:2]:
        assert (kept[left.id].active, kept[left.id].source_pushdown_id, kept[left.id].name) == \
            (True, None, "Welcome series")
    for stayed in accounts[2:]:
        assert (kept[stayed.id].active, kept[stayed.id].source_pushdown_id, kept[stayed.id].name) == \
            (False, pd.id, "Welcome series v2")
    assert db.session.get(HostedAccount, accounts[0].id).agency_id == other.id
