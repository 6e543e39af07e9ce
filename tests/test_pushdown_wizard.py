"""Pushdown (issue 23): the wizard writes nothing until a draft, a schedule or a publish; sub-accounts
cancelled but paid until their period ends can be chosen; Activate all / Deactivate all in the tab's row
menu; the report page; and the bugs seen (a message said three times, "Switched off." while an
activate-on-push publish copies, "1 sub-accounts", Push update switching back on, the first push's time)."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
import time_machine

from webapp.models import Automation, Pushdown, PushdownCopy
from webapp.services import pushdown
from webapp.services.audit import Actor

from .helpers import csrf_token, login, make_account, make_agency

ACTOR = Actor("user:0", "tests")
# No send-e-mail step: that one needs a template of the parent account, which these tests are not about.
STEPS = [{"type": "wait", "amount": "2", "unit": "days"}, {"type": "add_tag", "tag": "onboarded"}]


def _franchise(db, email="wizard@agency.test"):
    agency, user = make_agency(email=email)
    agency.franchise_enabled = True
    db.session.commit()
    return agency, user


def _automation(agency, name="Welcome series", tag="onboarded"):
    steps = [STEPS[0], {"type": "add_tag", "tag": tag}]
    return pushdown.save_automation(agency.id, None, pushdown.AutomationInput(name, "subscribes", "Newsletter",
                                                                              steps), ACTOR)


def _new_version(agency, automation, tag):
    return pushdown.save_automation(agency.id, automation.id, pushdown.AutomationInput(
        automation.name, "subscribes", "Newsletter", [STEPS[0], {"type": "add_tag", "tag": tag}]), ACTOR)


def _published(agency, accounts, activation="none"):
    automation = _automation(agency)
    row = pushdown.create_draft(agency.id, [automation.id], ACTOR)
    pushdown.select(row, [a.id for a in accounts])
    pushdown.publish(row, pushdown.ActivationInput(mode=activation), ACTOR)
    return automation, row


def _count(db, model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _signed_in(client, db, n=3, **account_fields):
    agency, _ = _franchise(db)
    subs = [make_account(agency, f"shop-{i}", client_name=f"Shop {i}", **account_fields) for i in range(n)]
    login(client, "wizard@agency.test")
    return agency, subs


# ---- the wizard writes nothing until saved --------------------------------------------------------

def test_continue_and_the_picker_write_nothing_until_a_draft_is_saved(client, db):
    agency, subs = _signed_in(client, db)
    make_account(agency, "warehouse")
    automation = _automation(agency)
    page = client.get(f"/automations/new?automation_id={automation.id}")  # step 1's Continue
    assert page.status_code == 200 and 'id="wizard"' in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    base = {"csrf_token": token, "automation_id": automation.id, "activation": "none"}
    picked = client.post("/automations/new", data={**base, "q": "shop", "action": "add_matching"})
    body = picked.get_data(as_text=True)
    assert picked.status_code == 200 and "3 sub-accounts selected" in body
    assert re.findall(r'name="match" value="([^"]*)"', body) == ["shop"]
    # Remove one of the matches; with htmx only the picker comes back, still nothing written.
    fragment = client.post("/automations/new", headers={"HX-Request": "true", "X-CSRFToken": token},
                           data={**base, "match": "shop", "action": f"remove:{subs[1].id}"})
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "2 sub-accounts selected" in body
    assert f'name="drop" value="{subs[1].id}"' in body
    assert _count(db, Pushdown) == 0 and _count(db, PushdownCopy) == 0
    # A refused schedule writes nothing either, not even a draft.
    past = client.post("/automations/new", data={**base, "match": "shop", "drop": subs[1].id, "action": "schedule",
                                                  "publish_date": "2001-01-01", "publish_time": "10:00",
                                                  "publish_tz": "Europe/Paris"})
    assert past.status_code == 422 and "future" in past.get_data(as_text=True)
    assert "2 sub-accounts selected" in past.get_data(as_text=True)  # the choice survives the refusal
    assert _count(db, Pushdown) == 0
    saved = client.post("/automations/new", data={**base, "match": "shop", "drop": subs[1].id, "action": "draft"})
    assert saved.status_code == 303
    row = db.session.scalar(sa.select(Pushdown))
    assert row.status == "draft" and set(db.session.scalars(sa.select(PushdownCopy.account_id))) == \
        {subs[0].id, subs[2].id}


def test_editing_a_draft_changes_it_only_when_saved(client, db):
    agency, subs = _signed_in(client, db)
    automation = _automation(agency)
    row = pushdown.create_draft(agency.id, [automation.id], ACTOR)
    pushdown.select(row, [subs[0].id, subs[1].id])
    page = client.get(f"/automations/{row.id}/edit").get_data(as_text=True)
    assert "2 sub-accounts selected" in page and 'name="saved" value="1"' in page
    base = {"csrf_token": csrf_token(page), "automation_id": automation.id, "activation": "none", "saved": "1"}
    changed = client.post(f"/automations/{row.id}/edit", data={**base, "action": f"add:{subs[2].id}"})
    assert "3 sub-accounts selected" in changed.get_data(as_text=True) and pushdown.selected_count(row) == 2
    foreign = make_account(make_agency("Foreign")[0], "foreign-shop")
    assert client.post(f"/automations/{row.id}/edit", data={**base, "action": f"add:{foreign.id}"}).status_code == 404
    assert client.post(f"/automations/{row.id}/edit", data={**base, "pick": subs[2].id, "drop": subs[0].id,
                                                            "action": "draft"}).status_code == 303
    assert set(db.session.scalars(sa.select(PushdownCopy.account_id).where(PushdownCopy.pushdown_id == row.id))) \
        == {subs[1].id, subs[2].id}


def test_select_at_least_one_sub_account_is_said_once(client, db):
    agency, _ = _signed_in(client, db)
    automation = _automation(agency)
    page = client.get(f"/automations/new?automation_id={automation.id}").get_data(as_text=True)
    refused = client.post("/automations/new", data={"csrf_token": csrf_token(page), "automation_id": automation.id,
                                                     "activation": "none", "action": "now"})
    assert refused.status_code == 422
    assert refused.get_data(as_text=True).count("Select at least one sub-account.") == 1
    assert _count(db, Pushdown) == 0


def test_step_one_asks_for_exactly_one_automation(client, db):
    agency, _ = _signed_in(client, db)
    one, two = _automation(agency, "One"), _automation(agency, "Two")
    both = client.get(f"/automations/new?automation_id={one.id}&automation_id={two.id}")
    assert both.status_code == 422 and "exactly one" in both.get_data(as_text=True)
    assert client.get("/automations/new?automation_id=").status_code == 422
    assert "exactly one" in client.get("/automations/new?continue=1").get_data(as_text=True)  # none chosen
    other, _ = make_agency("Other", email="other@agency.test")
    other.franchise_enabled = True
    db.session.commit()
    theirs = _automation(other, "Theirs")
    assert client.get(f"/automations/new?automation_id={theirs.id}").status_code == 404
    assert _count(db, Pushdown) == 0


# ---- sub-accounts still in use ----------------------------------------------------------------------

def test_a_cancelled_account_in_its_paid_period_can_get_a_pushdown(client, db, run_jobs):
    agency, _ = _signed_in(client, db, n=0)
    in_use = make_account(agency, "closing-shop", status="cancelled", period_end=date.today() + timedelta(days=9))
    ended = make_account(agency, "closed-shop", status="cancelled", period_end=date.today() - timedelta(days=1))
    automation = _automation(agency)
    page = client.get(f"/automations/new?automation_id={automation.id}&q=shop").get_data(as_text=True)
    assert "closing-shop" in page and "closed-shop" not in page
    base = {"csrf_token": csrf_token(page), "automation_id": automation.id, "activation": "none"}
    assert "1 sub-account selected" in client.post("/automations/new", data={
        **base, "action": f"add:{in_use.id}"}).get_data(as_text=True)
    assert "in use" in client.post("/automations/new", data={**base, "action": f"add:{ended.id}"}).get_data(as_text=True)
    assert client.post("/automations/new", data={**base, "pick": in_use.id, "action": "now"}).status_code == 303
    run_jobs()
    db.session.expire_all()
    copy = db.session.scalar(sa.select(PushdownCopy))
    assert (copy.account_id, copy.status) == (in_use.id, "copied")


# ---- the bugs --------------------------------------------------------------------------------------

def test_one_sub_account_selected_is_singular_on_the_tab(client, db):
    agency, subs = _signed_in(client, db)
    row = pushdown.create_draft(agency.id, [_automation(agency).id], ACTOR)
    pushdown.select(row, [subs[0].id])
    page = client.get("/automations").get_data(as_text=True)
    assert "1 sub-account selected" in page and "1 sub-accounts" not in page


def test_an_activate_on_push_publish_is_not_said_switched_off_while_it_copies(client, db, run_jobs):
    agency, subs = _signed_in(client, db)
    _automation_row, row = _published(agency, subs, activation="on_push")
    copying = client.get(f"/automations/{row.id}").get_data(as_text=True)
    assert "Switched off." not in copying and "Switches on in every sub-account as soon as it is copied." in copying
    run_jobs()
    assert "Switched on for every sub-account" in client.get(f"/automations/{row.id}").get_data(as_text=True)


def test_push_update_keeps_the_switch_after_deactivate_all(db, run_jobs):
    agency, _ = _franchise(db)
    subs = [make_account(agency, f"shop-{i}") for i in range(3)]
    automation, row = _published(agency, subs, activation="on_push")
    run_jobs()
    assert pushdown.counts([row.id])[row.id]["active"] == 3
    pushdown.switch(db.session.get(Pushdown, row.id), False, ACTOR)
    _new_version(agency, automation, "welcomed")
    pushdown.push_update(db.session.get(Pushdown, row.id), ACTOR)
    run_jobs()
    db.session.expire_all()
    numbers = pushdown.counts([row.id])[row.id]
    assert (numbers["active"], numbers["inactive"]) == (0, 3)
    assert db.session.get(Pushdown, row.id).active is False
    assert {a.current_version for a in db.session.scalars(sa.select(Automation).where(
        Automation.source_pushdown_id == row.id))} == {2}


def test_deactivate_all_while_the_first_publish_copies_is_kept(db, run_jobs):
    agency, _ = _franchise(db)
    subs = [make_account(agency, f"shop-{i}") for i in range(2)]
    _a, row = _published(agency, subs, activation="on_push")
    pushdown.switch(db.session.get(Pushdown, row.id), False, ACTOR)  # before the worker ran
    run_jobs()
    assert pushdown.counts([row.id])[row.id]["inactive"] == 2


def test_after_push_update_the_page_shows_when_that_version_was_pushed(client, db, run_jobs):
    agency, subs = _signed_in(client, db)
    first = datetime(2031, 3, 4, 9, 0, tzinfo=timezone.utc)
    second = datetime(2031, 5, 6, 15, 30, tzinfo=timezone.utc)
    with time_machine.travel(first, tick=False):
        automation, row = _published(agency, subs)
        run_jobs()
    with time_machine.travel(second, tick=False):
        _new_version(agency, automation, "welcomed")
        pushdown.push_update(db.session.get(Pushdown, row.id), ACTOR)
        run_jobs()
    db.session.expire_all()
    page = client.get(f"/automations/{row.id}").get_data(as_text=True)
    pushed = page[page.index("Version 2 pushed"):]
    pushed = pushed[:pushed.index("</p>")]
    assert "May" in pushed and "2031" in pushed and "Mar" not in pushed
    assert pushdown.version_pushed_at(db.session.get(Pushdown, row.id)) == second


# ---- the row menu and the report ----------------------------------------------------------------------

def test_the_row_menu_activates_and_deactivates_all_from_the_tab(client, db, run_jobs):
    agency, subs = _signed_in(client, db)
    _a, row = _published(agency, subs)
    run_jobs()
    tab = client.get("/automations").get_data(as_text=True)
    menu = tab[tab.index(f'id="pushdown-{row.id}"'):]
    assert f'action="/automations/{row.id}/switch"' in menu and 'name="back" value="index"' in menu
    assert "Activate all" in menu and "Deactivate all" in menu
    token = csrf_token(tab)
    on = client.post(f"/automations/{row.id}/switch", data={"csrf_token": token, "active": "1", "back": "index"})
    assert on.status_code == 303 and on.headers["Location"].endswith(f"/automations#pushdown-{row.id}")
    tab = client.get("/automations").get_data(as_text=True)
    assert 'data-count="active">3<' in tab and "Active in every sub-account that holds it." in tab
    client.post(f"/automations/{row.id}/switch", data={"csrf_token": token, "active": "0", "back": "index"})
    assert pushdown.counts([row.id])[row.id]["inactive"] == 3
    # Without csrf_token it is refused.
    assert client.post(f"/automations/{row.id}/switch", data={"active": "1", "back": "index"}).status_code == 400


def test_the_report_shows_each_copy_its_push_its_version_failures_and_a_chart(client, db, run_jobs):
    agency, subs = _signed_in(client, db)
    disabled = make_account(agency, "shop-off", client_name="Shop off")
    _a, row = _published(agency, subs + [disabled])
    disabled.status = "disabled"
    db.session.commit()
    run_jobs()
    page = client.get(f"/automations/{row.id}").get_data(as_text=True)
    assert 'id="report-purpose"' in page
    line = page[page.index('data-account="shop-off"'):]
    line = line[:line.index("</tr>")]
    assert "Failed" in line and "The account is disabled." in line
    copied = page[page.index('data-account="shop-0"'):]
    copied = copied[:copied.index("</tr>")]
    assert "Inactive" in copied and "<td>1</td>" in copied and "2031" not in copied
    chart = page[page.index('id="pushdown-chart"'):]
    chart = chart[:chart.index("</figure>")]
    assert "<script" not in chart and "<canvas" not in chart
    counts = dict(re.findall(r'data-state="(\w+)">.*?data-bar-count>(\d+)<', chart, re.S))
    assert counts == {"active": "0", "inactive": "3", "pending": "0", "failed": "1", "deleted": "0"}
    assert "pct-100" in chart
    failed = client.get(f"/automations/{row.id}?state=failed", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "shop-off" in failed and "shop-0" not in failed
