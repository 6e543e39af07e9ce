"""Issue 23 (P1-P4, seed 003): the agency's parent account is a real hosted account - made with the agency,
with its host, its `admin` (the owner's e-mail), branding and templates, opened from the dashboard by
login-as - where automations are built, edited and deleted; a send-e-mail step carries its message (a
template of the parent), shown in the diff and copied with the automation into each sub-account."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from webapp.models import (AccountUser, Agency, Automation, AutomationVersion, Branding, EmailTemplate, HostedAccount,
                           OutboundEmail)
from webapp.services import agencies, billing, pushdown, resold, templates
from webapp.services.audit import Actor
from webapp.services.errors import Conflict, NotFound, ValidationFailed
from webapp.services.scope import AgencyScope

from .helpers import csrf_token, email_step, login, make_account, make_agency, make_member

ACTOR = Actor("system", "tests")


def _franchise(db, **kw):
    agency, user = make_agency(**kw)
    agency.franchise_enabled = True
    db.session.commit()
    return agency, user


def _parents(db, agency_id):
    return db.session.scalars(sa.select(HostedAccount).where(HostedAccount.agency_id == agency_id,
                                                             HostedAccount.kind == "parent")).all()


def _admin(db, account):
    return db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id,
                                                         AccountUser.username == "admin"))


def _template(account, name="Welcome mail", html="<h1>Welcome</h1><p>Hello there</p>"):
    return templates.create_in_account(account, templates.TemplateInput(name, "", html), ACTOR)


def _mail(template, subject="Welcome!", from_name="Northwind"):
    return {"type": "send_email", "subject": subject, "from_name": from_name, "template_id": template.id}


def _save(agency, steps, automation_id=None, name="Welcome series"):
    return pushdown.save_automation(agency.id, automation_id, pushdown.AutomationInput(
        name, "subscribes", "Newsletter", steps), ACTOR)


# ---- the parent account, made real --------------------------------------------------------------

def test_created_agency_has_a_real_parent_account_that_is_no_client_account(db):
    agency, owner, _url = agencies.create(name="Blue Fox Media", owner_email="Owner@BlueFox.test", actor=ACTOR,
                                          send_email=False)
    [parent] = _parents(db, agency.id)
    admin = _admin(db, parent)
    assert parent.name == "blue-fox-media-hq" and parent.status == "active"
    assert admin is not None and admin.email == parent.client_email == owner.email == "owner@bluefox.test"
    assert parent.notification_email == owner.email
    # Never a client account: not on the Resold tab, not counted for the discount, no "first account" done.
    scope = AgencyScope(agency.id)
    assert resold.page(scope, resold.View.from_args(MultiDict())).total == 0
    assert resold.first_steps(scope).has_account is False
    assert billing.discount_in_force(agency.id) == 0
    assert agencies.detail(agency)["accounts"] == 0
    assert pushdown.parent_account(agency.id).id == parent.id  # the same one, not another


def test_approved_application_gets_its_parent_with_the_agency_branding_and_templates(db):
    agency, owner = make_agency("Acme Studio", email="boss@acme.test")
    agency.state = "awaiting_approval"
    db.session.add_all([Branding(agency_id=agency.id, product_name="Acme Mail", primary_color="#112233"),
                        EmailTemplate(agency_id=agency.id, kind="basic", name="Newsletter", html="<p>News</p>")])
    db.session.commit()
    assert _parents(db, agency.id) == []
    agencies.decide_application(agency.id, approve=True, reason="", actor=ACTOR)
    [parent] = _parents(db, agency.id)
    assert _admin(db, parent).email == "boss@acme.test"
    assert db.session.scalar(sa.select(Branding.product_name).where(Branding.account_id == parent.id)) == "Acme Mail"
    assert [t.name for t in templates.account_templates(parent)] == ["Newsletter"]


def test_an_open_sign_up_gets_its_parent_when_its_e_mail_is_confirmed(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "AGENCY_SIGNUP", "open")
    owner = agencies.sign_up(agencies.Application("Sky Ads", "Sam Sky", "sam@sky.test", "plum-orchard-lantern-42",
                                                  "Europe/Paris", "fr"), ip=None)
    assert _parents(db, owner.agency_id) == []  # not while it waits for its owner's e-mail
    body = db.session.scalar(sa.select(OutboundEmail.body_text).where(OutboundEmail.kind == "signup_confirm"))
    agencies.confirm_email(re.search(r"/signup/confirm/(\S+)", body).group(1))
    [parent] = _parents(db, owner.agency_id)
    assert parent.name == "sky-ads-hq" and _admin(db, parent).email == "sam@sky.test"
    assert parent.language == "fr" and parent.timezone == "Europe/Paris"


def test_rejected_application_gets_no_parent(db):
    agency, _ = make_agency("Nope Ltd", email="nope@nope.test")
    agency.state = "awaiting_approval"
    db.session.commit()
    agencies.decide_application(agency.id, approve=False, reason="Not a real agency", actor=ACTOR)
    assert _parents(db, agency.id) == []


def test_a_synthetic_parent_of_before_is_made_real_in_place(db):
    agency, owner = make_agency("Old Timer", email="old@timer.test")
    invented = f"parent-{agency.id}@invalid.test"  # what parent_account made before issue 23
    synthetic = make_account(agency, f"old-hq-{agency.id}", kind="parent", client_email=invented,
                             notification_email=invented)
    parent = pushdown.parent_account(agency.id)
    assert parent.id == synthetic.id
    assert parent.client_email == parent.notification_email == "old@timer.test" == _admin(db, parent).email
    assert len(_parents(db, agency.id)) == 1


def test_an_agency_without_parent_gets_one_lazily_with_a_free_name(db):
    agency, _ = make_agency("Demo", email="first@demo.test")  # "demo-hq" is free; "demo" alone is reserved
    make_account(agency, "demo-hq")  # ... taken by one of its clients
    parent = pushdown.parent_account(agency.id)
    assert parent.name == f"demo-hq-{agency.id}" and _admin(db, parent).email == "first@demo.test"
    assert db.session.get(HostedAccount, parent.id) is not None  # committed: the next call finds it
    assert pushdown.parent_account(agency.id).id == parent.id


# ---- a send-e-mail step carries its message -------------------------------------------------------

def test_email_step_needs_a_subject_a_sender_and_a_template_of_the_parent(db):
    agency, _ = _franchise(db)
    other, _ = _franchise(db, name="Other")
    foreign = _template(pushdown.parent_account(other.id), "Theirs")
    with pytest.raises(ValidationFailed) as exc:
        _save(agency, [{"type": "send_email", "subject": " ", "from_name": "", "template_id": str(foreign.id)},
                       {"type": "send_email", "subject": "Hi", "from_name": "Us", "template_id": "nope"}])
    assert set(exc.value.fields) == {"steps-0-subject", "steps-0-from_name", "steps-0-template_id",
                                     "steps-1-template_id"}
    assert "parent account" in exc.value.fields["steps-1-template_id"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Automation)) == 0


def test_the_message_is_sanitized_shown_in_the_diff_and_copied_with_the_automation(db, run_jobs):
    agency, _ = _franchise(db)
    parent = pushdown.parent_account(agency.id)
    tpl = _template(parent, html='<h1>Welcome</h1><p onclick="x()">Hello</p><script>alert(1)</script>')
    row = _save(agency, [_mail(tpl), {"type": "wait", "amount": 1, "unit": "days"}])
    step = pushdown.version(row).steps[0]
    assert step["template_id"] == tpl.id and step["template_name"] == "Welcome mail"
    assert step["from_name"] == "Northwind" and "Welcome" in step["html"]
    assert "<script" not in step["html"] and "onclick" not in step["html"]

    subs = [make_account(agency, f"shop-{i}") for i in range(2)]
    pd = pushdown.create_draft(agency.id, [row.id], ACTOR)
    pushdown.select(pd, [a.id for a in subs])
    pushdown.publish(pd, pushdown.ActivationInput(), ACTOR)
    run_jobs()
    copies = db.session.scalars(sa.select(Automation).where(Automation.source_pushdown_id == pd.id)).all()
    assert len(copies) == 2
    for copy in copies:
        held = pushdown.version(copy).steps[0]
        assert held == step  # the subject, the sender, the template's name and its HTML

    # The template changes in the parent, the automation is saved again: the diff shows the new message.
    tpl.html = templates.sanitize_html("<h1>Welcome back</h1><p>New words</p>")
    db.session.commit()
    _save(agency, [_mail(tpl, from_name="Northwind Team"), {"type": "wait", "amount": 1, "unit": "days"}], row.id)
    changes = pushdown.diff(row, pd.version_number)
    assert any(line.startswith("-") and "Hello" in line for line in changes)
    assert any(line.startswith("+") and "New words" in line for line in changes)
    assert any(line.startswith("+") and "Northwind Team" in line for line in changes)
    assert pushdown.listing(agency.id)[0]["parent_changed"] is True
    # P6: the sub-accounts keep the message they were pushed until the next push.
    assert all("Hello" in pushdown.version(c).steps[0]["html"] for c in copies)


def test_messages_of_one_automation_have_a_size_limit(db, monkeypatch):
    agency, _ = _franchise(db)
    tpl = _template(pushdown.parent_account(agency.id), html="<p>" + "x" * 600 + "</p>")
    monkeypatch.setattr("webapp.services.pushdown.automations.MAX_MESSAGE_CHARS", 1000)
    with pytest.raises(ValidationFailed) as exc:
        _save(agency, [_mail(tpl), _mail(tpl)])
    assert "steps" in exc.value.fields


# ---- P4 (seed): a parent automation deleted, its pushdowns stay -----------------------------------

def test_deleting_a_parent_automation_keeps_its_pushdowns(db, run_jobs):
    agency, _ = _franchise(db)
    row = _save(agency, [email_step(agency)])
    sub = make_account(agency, "shop-a")
    published = pushdown.create_draft(agency.id, [row.id], ACTOR)
    pushdown.select(published, [sub.id])
    pushdown.publish(published, pushdown.ActivationInput(), ACTOR)
    run_jobs()
    other, _ = _franchise(db, name="Other")
    with pytest.raises(NotFound):
        pushdown.delete_automation(other.id, row.id, ACTOR)
    pushdown.delete_automation(agency.id, row.id, ACTOR)
    assert pushdown.parent_automations(agency.id) == []
    with pytest.raises(NotFound):
        pushdown.parent_automation(agency.id, row.id)
    listed = pushdown.listing(agency.id)
    assert [item["row"].id for item in listed] == [published.id] and listed[0]["automation"].name == row.name
    copy = db.session.scalar(sa.select(Automation).where(Automation.source_pushdown_id == published.id))
    assert copy.deleted_at is None  # the sub-account keeps what was pushed
    with pytest.raises(Conflict):
        pushdown.push_update(published, ACTOR)
    with pytest.raises(NotFound):
        pushdown.create_draft(agency.id, [row.id], ACTOR)


# ---- the pages -------------------------------------------------------------------------------------

def _open_parent(client, app, email):
    """The dashboard's "Open the parent account": a login-as link to the parent's own host, followed."""
    login(client, email)
    page = client.get("/automations/library").get_data(as_text=True)
    assert 'id="open-parent"' in page
    response = client.post("/automations/parent/open", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303 and response.headers["Cache-Control"] == "no-store"
    link = response.headers["Location"]
    match = re.match(r"http://([a-z0-9-]+)\.localhost(:\d+)?/app/login-as\?token=", link)
    assert match, link
    parent_site = app.test_client()
    assert parent_site.get(link).status_code == 303
    return parent_site, f"http://{match.group(1)}.localhost"


def test_build_edit_and_delete_in_the_parent_account_opened_from_the_dashboard(client, app, db):
    agency, _ = _franchise(db, email="hq@agency.test")
    parent = pushdown.parent_account(agency.id)
    tpl = _template(parent, "Hello mail")
    site, base = _open_parent(client, app, "hq@agency.test")
    assert base == f"http://{parent.name}.localhost"
    overview = site.get("/app/", base_url=base).get_data(as_text=True)
    assert "Signed in by your agency" in overview and 'id="menu-parent-automations"' in overview

    page = site.get("/app/parent/automations/new", base_url=base)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Hello mail" in html and 'name="steps-0-template_id"' in html
    token = csrf_token(html)
    form = {"csrf_token": token, "name": "Parent welcome", "trigger_kind": "subscribes", "trigger_value": "News",
            "steps-0-type": "send_email", "steps-0-subject": "Welcome", "steps-0-from_name": "HQ"}
    # htmx: only the step list comes back, with the parent's templates to choose from.
    fragment = site.post("/app/parent/automations/steps", base_url=base, data={**form, "action": "add-wait"},
                         headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and 'value="wait"' in body and "Hello mail" in body
    # No template chosen: refused, with the message by the field, nothing written.
    refused = site.post("/app/parent/automations/new", base_url=base, data={**form, "action": "save"})
    assert refused.status_code == 422 and "Choose the template this e-mail sends" in refused.get_data(as_text=True)
    assert 'aria-invalid="true"' in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Automation)) == 0
    saved = site.post("/app/parent/automations/new", base_url=base,
                      data={**form, "steps-0-template_id": str(tpl.id), "action": "save"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/app/parent/automations")
    row = db.session.scalar(sa.select(Automation).where(Automation.account_id == parent.id))
    assert pushdown.version(row).steps[0]["html"] == tpl.html
    listing = site.get("/app/parent/automations", base_url=base).get_data(as_text=True)
    assert "Parent welcome" in listing and "saved as version 1" in listing
    # The dashboard lists it for pushing.
    assert "Parent welcome" in client.get("/automations/library").get_data(as_text=True)

    edit = site.get(f"/app/parent/automations/{row.id}/edit", base_url=base).get_data(as_text=True)
    assert 'value="Parent welcome"' in edit and "Hello" in edit  # the saved message's words
    assert "message-changed" not in edit
    tpl.html = "<p>Hello again</p>"  # changed in the parent since: the editor says a save would send it
    db.session.commit()
    edit = site.get(f"/app/parent/automations/{row.id}/edit", base_url=base).get_data(as_text=True)
    assert "message-changed" in edit
    again = site.post(f"/app/parent/automations/{row.id}/edit", base_url=base,
                      data={**form, "name": "Parent welcome 2", "steps-0-template_id": str(tpl.id), "action": "save"})
    assert again.status_code == 303
    db.session.refresh(row)
    assert row.current_version == 2 and row.name == "Parent welcome 2"
    assert pushdown.version(row).steps[0]["html"] == "<p>Hello again</p>"

    gone = site.post(f"/app/parent/automations/{row.id}/delete", base_url=base, data={"csrf_token": token})
    assert gone.status_code == 303
    db.session.refresh(row)
    assert row.deleted_at is not None
    assert site.post(f"/app/parent/automations/{row.id}/delete", base_url=base,
                     data={"csrf_token": token}).status_code == 404


def test_parent_pages_are_only_on_the_parent_and_only_for_its_agency(client, app, db):
    agency, _ = _franchise(db, email="own@agency.test")
    make_account(agency, "a-client", admin_password="client-secret-pass")
    site = app.test_client()
    page = site.get("/app/login", base_url="http://a-client.localhost").get_data(as_text=True)
    site.post("/app/login", base_url="http://a-client.localhost",
              data={"csrf_token": csrf_token(page), "username": "admin", "password": "client-secret-pass"})
    assert site.get("/app/", base_url="http://a-client.localhost").status_code == 200
    assert site.get("/app/parent/automations", base_url="http://a-client.localhost").status_code == 404
    # Another agency's automation id answers 404 in this parent.
    other, _ = _franchise(db, name="Other", email="other@agency.test")
    theirs = _save(other, [email_step(other)])
    parent_site, base = _open_parent(client, app, "own@agency.test")
    assert parent_site.get(f"/app/parent/automations/{theirs.id}/edit", base_url=base).status_code == 404
    assert parent_site.post(f"/app/parent/automations/{theirs.id}/delete", base_url=base,
                            data={"csrf_token": csrf_token(parent_site.get(
                                "/app/parent/automations", base_url=base).get_data(as_text=True))}).status_code == 404
    assert db.session.get(Automation, theirs.id).deleted_at is None


def test_a_billing_member_cannot_open_the_parent_and_without_franchise_the_page_says_why(client, app, db):
    agency, _ = make_agency(email="plain-owner@agency.test")
    make_member(agency, "billing", email="bills@agency.test")
    login(client, "bills@agency.test")
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/automations/parent/open", data={"csrf_token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    # The owner opens it (no franchise yet): the parent's Automations page says what pushdown needs.
    client2 = app.test_client()
    login(client2, "plain-owner@agency.test")
    token = csrf_token(client2.get("/").get_data(as_text=True))
    link = client2.post("/automations/parent/open", data={"csrf_token": token}).headers["Location"]
    site = app.test_client()
    site.get(link)
    base = "http://" + re.match(r"http://([^/:]+)", link).group(1)
    page = site.get("/app/parent/automations", base_url=base)
    assert page.status_code == 200 and 'id="not-franchise"' in page.get_data(as_text=True)
    assert site.get("/app/parent/automations/new", base_url=base).status_code == 403


def test_the_dashboard_editor_offers_the_parent_templates_too(client, db):
    agency, _ = _franchise(db, email="dash@agency.test")
    tpl = _template(pushdown.parent_account(agency.id), "Dashboard mail")
    login(client, "dash@agency.test")
    page = client.get("/automations/library/new").get_data(as_text=True)
    assert "Dashboard mail" in page
    saved = client.post("/automations/library/new", data={
        "csrf_token": csrf_token(page), "name": "From the dashboard", "trigger_kind": "tag_added",
        "trigger_value": "vip", "steps-0-type": "send_email", "steps-0-subject": "Hi", "steps-0-from_name": "Us",
        "steps-0-template_id": str(tpl.id), "action": "save"})
    assert saved.status_code == 303
    assert db.session.scalar(sa.select(AutomationVersion.steps).join(Automation).where(
        Automation.name == "From the dashboard"))[0]["template_name"] == "Dashboard mail"


def test_demo_parent_is_real_and_its_automations_send_its_templates(app, db):
    from webapp.services import demo
    data = demo.seed()
    parent = data["parent"]
    assert _admin(db, parent).email == demo.AGENCY_EMAIL
    tpl_ids = {t.id for t in templates.account_templates(parent)}
    for automation in pushdown.parent_automations(data["agency"].id):
        for step in pushdown.version(automation).steps:
            if step["type"] == "send_email":
                assert step["template_id"] in tpl_ids and step["html"] and step["from_name"]
    assert db.session.get(Agency, data["agency"].id).franchise_enabled
