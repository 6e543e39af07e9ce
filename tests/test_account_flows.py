"""Issue 22, the account flows a customer trusts: cancel and resume, the generated password shown once (for 24
hours at most, then erased), the client's details edited after Add New, and the agency's own disable and
enable. Each through the service, the dashboard and the API."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine

from webapp.models import AccountUser, AuditEvent, HostedAccount, Invoice, Operation, utcnow
from webapp.services import accounts, billing, provisioning, renewals, reports
from webapp.services.errors import Conflict, Forbidden, ValidationFailed

from .helpers import (add_card, agency_actor, audited, csrf_token, login, make_account, make_agency, make_member,
                      make_support)
from .test_api import Api, error_of, new_token


@pytest.fixture
def owner(db):
    agency, user = make_agency(email="owner@agency.test")
    return agency, user


@pytest.fixture
def api(client, owner):
    return Api(client, new_token(owner[1]))


def token_of(client, account):
    return csrf_token(client.get(f"/accounts/{account.id}").get_data(as_text=True))


def charges():
    return billing.gateway().history("charge")


def details_of(account, **changes):
    values = {name: getattr(account, name) for name in accounts.DETAIL_FIELDS}
    values.update(changes)
    return accounts.ClientDetails(**values)


# ---- cancel and resume --------------------------------------------------------------------------------------

def test_a_cancellation_is_undone_until_the_period_ends_with_no_charge(db, owner):
    agency, user = owner
    add_card(agency)
    actor = agency_actor(user)
    account = make_account(agency, "leaving", period_end=date.today() + timedelta(days=5))
    accounts.cancel(account, actor)
    assert accounts.resumable(account)
    accounts.resume(account, actor)
    db.session.expire_all()
    account = db.session.get(HostedAccount, account.id)
    assert (account.status, account.cancelled_at) == ("active", None)
    assert audited(db, AuditEvent.account_id == account.id) == ["account_cancelled", "account_resumed"]
    assert charges() == [] and db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 0
    with pytest.raises(Conflict, match="is not cancelled"):  # a second press
        accounts.resume(account, actor)
    # It renews on its day again, as before.
    assert account.id in [row.id for row in renewals.due_accounts(account.period_end)]
    assert renewals.expire_ended(account.period_end) == 0


def test_after_its_period_end_a_cancelled_account_has_expired_and_cannot_be_resumed(db, owner):
    agency, user = owner
    actor = agency_actor(user)
    account = make_account(agency, "gone", period_end=date.today() + timedelta(days=2))
    accounts.cancel(account, actor)
    end = datetime.combine(account.period_end, datetime.min.time(), timezone.utc) + timedelta(hours=9)
    with time_machine.travel(end, tick=False):
        assert not accounts.resumable(account)  # the day it expires, before the sweep: too late already
        with pytest.raises(Conflict, match="has expired"):
            accounts.resume(account, actor)
        assert renewals.expire_ended() == 1
        db.session.refresh(account)
        assert account.status == "expired" and not accounts.resumable(account)
        with pytest.raises(Conflict, match="has expired"):
            accounts.resume(account, actor)
    assert audited(db, AuditEvent.account_id == account.id) == ["account_cancelled"]


def test_resume_keeps_a_disabled_account_disabled_and_is_refused_to_what_is_not_the_agencys(db, owner):
    agency, user = owner
    actor = agency_actor(user)
    account = make_account(agency, "paused")
    accounts.disable(account, actor)
    accounts.cancel(account, actor)
    accounts.resume(account, actor)
    db.session.refresh(account)
    assert (account.status, account.disabled_reason, account.cancelled_at) == ("disabled", "agency", None)
    referred = make_account(agency, "referred", kind="commission", status="cancelled", cancelled_at=utcnow())
    with pytest.raises(Conflict, match="billed to its client"):
        accounts.resume(referred, actor)
    billing_user = make_member(agency, "billing")
    with pytest.raises(Forbidden):
        accounts.resume(referred, agency_actor(billing_user))


def test_cancel_then_resume_from_the_account_page(client, db, owner):
    agency, _ = owner
    account = make_account(agency, "shop", period_end=date.today() + timedelta(days=9))
    login(client, "owner@agency.test")
    assert 'id="resume"' not in client.get(f"/accounts/{account.id}").get_data(as_text=True)
    token = token_of(client, account)
    client.post(f"/accounts/{account.id}/cancel", data={"csrf_token": token})
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert 'id="cancelled-note"' in page and 'id="resume"' in page
    assert client.post(f"/accounts/{account.id}/resume").status_code == 400  # no CSRF token: refused
    response = client.post(f"/accounts/{account.id}/resume", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/accounts/{account.id}#cancel")
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert "is resumed: it renews on" in page and "Nothing was charged" in page and 'id="resume"' not in page
    again = client.post(f"/accounts/{account.id}/resume", data={"csrf_token": token})  # a double press
    assert again.status_code == 303 and "is not cancelled" in client.get(f"/accounts/{account.id}").get_data(as_text=True)
    db.session.refresh(account)
    assert account.status == "active" and account.cancelled_at is None


def test_an_expired_account_offers_no_resume(client, db, owner):
    agency, _ = owner
    account = make_account(agency, "old", status="expired", cancelled_at=utcnow(),
                           period_end=date.today() - timedelta(days=1))
    login(client, "owner@agency.test")
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert 'id="resume"' not in page and "This account has expired." in page


def test_resume_through_the_api(db, api, owner):
    agency, user = owner
    account = make_account(agency, "api-shop")
    api.post(f"/accounts/{account.id}/cancel")
    body = api.post(f"/accounts/{account.id}/resume").get_json()
    assert body["status"] == "active" and body["cancelled_at"] is None
    assert "is not cancelled" in error_of(api.post(f"/accounts/{account.id}/resume"), 409, "conflict")["message"]
    rival, rival_user = make_agency("Rival", email="rival@agency.test")
    theirs = make_account(rival, "theirs", status="cancelled", cancelled_at=utcnow())
    error_of(api.post(f"/accounts/{theirs.id}/resume"), 404, "not_found")


# ---- A2: the generated password, once ------------------------------------------------------------------------

def _provisioned(client, run_jobs, name="fresh-shop"):
    """A trial made through Add New and provisioned by the worker (the owner signed in)."""
    if client.get("/login").status_code == 200:
        login(client, "owner@agency.test")
    page = client.get("/accounts/new").get_data(as_text=True)
    key = re.search(r'id="request_key" name="request_key" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/accounts/new", data={
        "csrf_token": csrf_token(page), "request_key": key, "name": name, "custom_domain": "", "client_name": "Fresh",
        "client_email": "owner@fresh.test", "notification_email": "ops@agency.test", "language": "en",
        "timezone": "Europe/Paris", "tier": "plus", "term": "trial", "contact_limit": "500"})
    assert response.status_code == 303
    run_jobs()
    from webapp.extensions import db
    account = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == name))
    return account, provisioning.operation_of(account)


def _kept(db, op_id) -> bool:
    db.session.expire_all()
    return "password" in (db.session.get(Operation, op_id).result or {})


T0 = datetime(2031, 3, 3, 9, 0, tzinfo=timezone.utc)


def test_the_password_is_shown_for_24_hours_then_erased_on_read(client, db, owner, run_jobs):
    owner[1].timezone = "Europe/Paris"
    db.session.commit()
    with time_machine.travel(T0, tick=False) as clock:
        account, op = _provisioned(client, run_jobs)
        db.session.refresh(account)
        assert account.credentials_until == account.provisioned_at + timedelta(hours=24)
        page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
        assert 'id="cred-password"' in page
        until = re.search(r'id="credentials-until">(.*?)</p>', page).group(1)
        assert "Mar 4, 2031" in until and "10:00" in until  # 09:00 UTC the next day, in the owner's zone
        clock.shift(timedelta(hours=23, minutes=59))
        assert 'id="cred-password"' in client.get(f"/accounts/{account.id}").get_data(as_text=True)
        clock.shift(timedelta(minutes=1))
        page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
        assert 'id="cred-password"' not in page and "is ready" not in page
        assert not _kept(db, op.id)
        assert db.session.get(HostedAccount, account.id).credentials_until is None
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "credentials_erased"))
        assert event.detail["reason"] == "time_over" and event.actor == "system"


def test_the_sweep_erases_passwords_nobody_reads_again(client, db, owner, run_jobs):
    with time_machine.travel(T0, tick=False) as clock:
        account, op = _provisioned(client, run_jobs)
        other, other_op = _provisioned(client, run_jobs, "second-shop")
        assert provisioning.erase_stale_credentials() == 0
        clock.shift(timedelta(hours=25))
        from webapp.jobs import sweeper
        sweeper.sweep()  # the periodic task is in the registry
        assert not _kept(db, op.id) and not _kept(db, other_op.id)
        assert provisioning.erase_stale_credentials() == 0  # a second pass finds nothing
        assert db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount).where(
            HostedAccount.credentials_until.is_not(None))) == 0


def test_dismiss_erases_the_password_at_once_and_twice_is_harmless(client, db, owner, run_jobs):
    account, op = _provisioned(client, run_jobs)
    token = token_of(client, account)
    for _ in range(2):
        assert client.post(f"/accounts/{account.id}/credentials/dismiss",
                           data={"csrf_token": token}).status_code == 303
    assert not _kept(db, op.id)
    assert 'id="cred-password"' not in client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert [e.detail["reason"] for e in db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "credentials_erased"))] == ["dismissed"]


def test_never_shown_on_a_cancelled_expired_or_transferred_account(client, db, owner, run_jobs):
    agency, user = owner
    account, op = _provisioned(client, run_jobs)
    accounts.cancel(account, agency_actor(user))  # erased with the cancellation
    assert not _kept(db, op.id)
    accounts.resume(db.session.get(HostedAccount, account.id), agency_actor(user))
    assert 'id="cred-password"' not in client.get(f"/accounts/{account.id}").get_data(as_text=True)

    expired, expired_op = _provisioned(client, run_jobs, "lapsed-shop")
    db.session.execute(sa.update(HostedAccount).where(HostedAccount.id == expired.id).values(status="expired"))
    db.session.commit()
    assert 'id="cred-password"' not in client.get(f"/accounts/{expired.id}").get_data(as_text=True)
    assert not _kept(db, expired_op.id)

    # Transferred to another agency: its new owner never sees the password made for the first one.
    moved, moved_op = _provisioned(client, run_jobs, "moving-shop")
    rival, _rival_user = make_agency("Rival", email="rival@agency.test")
    db.session.execute(sa.update(HostedAccount).where(HostedAccount.id == moved.id).values(agency_id=rival.id))
    db.session.commit()
    assert provisioning.read_credentials(db.session.get(Operation, moved_op.id))["password"] is None
    assert not _kept(db, moved_op.id)


def test_a_transfer_decided_by_support_erases_the_password(client, db, owner, run_jobs):
    account, op = _provisioned(client, run_jobs)
    from webapp.services.audit import Actor
    accounts.end_agency_access(db.session.get(HostedAccount, account.id), account.agency_id,
                               Actor("user:0", "support"))
    db.session.commit()
    assert not _kept(db, op.id)


def test_the_api_reader_gets_the_password_once_and_never_after_24_hours(client, db, owner, run_jobs):
    agency, user = owner
    api = Api(client, new_token(user))
    with time_machine.travel(T0, tick=False) as clock:
        first = api.post("/accounts", json={
            "name": "api-trial", "client_name": "C", "client_email": "c@example.test",
            "notification_email": "n@example.test", "language": "en", "timezone": "UTC",
            "plan": {"tier": "plus", "term": "trial", "contact_limit": 500}}).get_json()
        late = api.post("/accounts", json={
            "name": "api-late", "client_name": "C", "client_email": "c@example.test",
            "notification_email": "n@example.test", "language": "en", "timezone": "UTC",
            "plan": {"tier": "plus", "term": "trial", "contact_limit": 500}}).get_json()
        run_jobs()
        assert api.get(f"/operations/{first['operation']['id']}").get_json()["result"]["password"]
        assert api.get(f"/operations/{first['operation']['id']}").get_json()["result"]["password"] is None
        clock.shift(timedelta(hours=24, seconds=1))
        result = api.get(f"/operations/{late['operation']['id']}").get_json()["result"]
        assert result["password"] is None and result["username"] == "admin"
        assert not _kept(db, late["operation"]["id"])


# ---- the client's details, edited after Add New ---------------------------------------------------------------

def test_details_are_checked_by_add_news_rules_and_nothing_is_half_written(db, owner):
    agency, user = owner
    account = make_account(agency, "bakery", client_name="Bakery", client_email="old@bakery.test",
                           admin_password="client-pass-1")
    before = {name: getattr(account, name) for name in accounts.DETAIL_FIELDS}
    bad = details_of(account, client_name=" ", client_email="not-an-address", notification_email="x@",
                     language="xx", timezone="Mars/Olympus")
    with pytest.raises(ValidationFailed) as refused:
        accounts.update_details(account, bad, agency_actor(user))
    assert set(refused.value.fields) == {"client_name", "client_email", "notification_email", "language", "timezone"}
    # The same messages Add New gives for the same mistakes.
    add_new = accounts.NewAccount(name="fine-name", client_name=" ", client_email="not-an-address",
                                  notification_email="x@", language="xx", timezone="Mars/Olympus", tier="plus",
                                  term="monthly", contact_limit=1000)
    with pytest.raises(ValidationFailed) as at_add_new:
        accounts.validate_new(add_new)
    assert {k: v for k, v in at_add_new.value.fields.items() if k in refused.value.fields} == refused.value.fields
    with pytest.raises(ValidationFailed) as too_long:  # one good field and one bad one: neither is saved
        accounts.update_details(account, details_of(account, client_name="New name", client_email="a" * 250 + "@x.test"),
                                agency_actor(user))
    assert set(too_long.value.fields) == {"client_email"}
    db.session.expire_all()
    account = db.session.get(HostedAccount, account.id)
    assert {name: getattr(account, name) for name in accounts.DETAIL_FIELDS} == before
    assert audited(db, AuditEvent.action == "account_details_changed") == []


def test_details_change_is_audited_old_to_new_and_search_follows(db, owner, client):
    agency, user = owner
    account = make_account(agency, "bakery", client_name="Bakery", client_email="old@bakery.test",
                           admin_password="client-pass-1")
    changes = accounts.update_details(account, details_of(
        account, client_name="  Golden Crust  ", client_email="team@goldencrust.test", language="fr",
        timezone="Europe/Paris"), agency_actor(user))
    assert changes["client_name"] == ("Bakery", "Golden Crust")
    db.session.expire_all()
    account = db.session.get(HostedAccount, account.id)
    assert (account.client_name, account.client_email, account.language, account.timezone) == (
        "Golden Crust", "team@goldencrust.test", "fr", "Europe/Paris")
    assert "golden crust" in account.search_text and "team@goldencrust.test" in account.search_text
    assert "old@bakery.test" not in account.search_text
    admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id))
    assert admin.email == "team@goldencrust.test"  # a reset now goes to the corrected address
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "account_details_changed"))
    assert event.detail["changes"]["client_email"] == {"from": "old@bakery.test", "to": "team@goldencrust.test"}
    assert set(event.detail["changes"]) == {"client_name", "client_email", "language", "timezone"}
    assert event.actor == f"user:{user.id}"
    # The Resold tab's search finds it by the new name, not the old one.
    login(client, "owner@agency.test")
    assert "bakery" in client.get("/?q=golden", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-account="bakery"' not in client.get("/?q=old%40bakery", headers={"HX-Request": "true"}).get_data(
        as_text=True)
    # The same form again (a double press): nothing changes, nothing more is audited.
    assert accounts.update_details(account, details_of(account), agency_actor(user)) == {}
    assert len(audited(db, AuditEvent.action == "account_details_changed")) == 1


def test_a_stale_details_form_is_refused_when_someone_changed_them_meanwhile(db, owner):
    agency, user = owner
    account = make_account(agency, "bakery", client_name="Bakery")
    db.session.refresh(account)  # what the second form was made from
    db.session.expunge(account)
    db.session.rollback()
    with db.engine.begin() as elsewhere:  # meanwhile, another request saves its form
        elsewhere.execute(sa.update(HostedAccount).where(HostedAccount.id == account.id).values(client_name="First"))
    stale = db.session.merge(account, load=False)
    assert stale.client_name == "Bakery"
    with pytest.raises(Conflict, match="changed meanwhile"):
        accounts.update_details(stale, details_of(stale, client_name="Second"), agency_actor(user))
    db.session.expire_all()
    assert db.session.get(HostedAccount, account.id).client_name == "First"


def test_details_of_a_referred_account_are_its_clients(db, owner):
    agency, user = owner
    referred = make_account(agency, "referred", kind="commission")
    with pytest.raises(Conflict, match="referred"):
        accounts.update_details(referred, details_of(referred, client_name="Other"), agency_actor(user))
    billing_user = make_member(agency, "billing")
    mine = make_account(agency, "mine")
    with pytest.raises(Forbidden):
        accounts.update_details(mine, details_of(mine, client_name="Other"), agency_actor(billing_user))


def test_edit_details_on_the_account_page_with_errors_by_the_field(client, db, owner):
    agency, _ = owner
    account = make_account(agency, "bakery", client_name="Bakery", client_email="old@bakery.test")
    login(client, "owner@agency.test")
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert 'id="edit-details"' in page and f'hx-get="/accounts/{account.id}/details"' in page
    full = client.get(f"/accounts/{account.id}/details")
    assert full.status_code == 200 and "<html" in full.get_data(as_text=True) and "HX-Request" in full.headers["Vary"]
    fragment = client.get(f"/accounts/{account.id}/details", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'id="client"' in fragment and 'value="old@bakery.test"' in fragment
    token = csrf_token(full.get_data(as_text=True))
    form = {"csrf_token": token, "details-client_name": "Golden Crust", "details-client_email": "not-an-address",
            "details-notification_email": "ops@agency.test", "details-language": "fr",
            "details-timezone": "Europe/Paris"}
    refused = client.post(f"/accounts/{account.id}/details", data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "<html" in html
    assert re.search(r'id="details-client_email-error">Enter a valid e-mail address\.', html)
    assert 'value="Golden Crust"' in html  # what was typed is kept
    # htmx: the form comes back in place (htmx swaps no 4xx) with the same errors.
    in_place = client.post(f"/accounts/{account.id}/details", data={**form, "details-timezone": "Nowhere"},
                           headers={"HX-Request": "true"})
    assert in_place.status_code == 200 and "<html" not in in_place.get_data(as_text=True)
    assert "Choose a time zone from the list" in in_place.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(HostedAccount, account.id).client_name == "Bakery"  # nothing written
    assert client.post(f"/accounts/{account.id}/details", data={**form, "csrf_token": ""}).status_code == 400
    saved = client.post(f"/accounts/{account.id}/details", data={**form, "details-client_email": "team@crust.test"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith(f"/accounts/{account.id}#client")
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert "The client&#39;s details were saved." in page
    assert '<dd class="col-7" id="client-email">team@crust.test</dd>' in page and "Français" in page
    by_htmx = client.post(f"/accounts/{account.id}/details", data={**form, "details-client_email": "b@crust.test"},
                          headers={"HX-Request": "true"})
    assert by_htmx.status_code == 200 and by_htmx.headers["HX-Redirect"].endswith(f"/accounts/{account.id}")
    rival, _user = make_agency("Rival", email="rival@agency.test")
    theirs = make_account(rival, "theirs")
    assert client.get(f"/accounts/{theirs.id}/details").status_code == 404
    assert client.post(f"/accounts/{theirs.id}/details", data=form).status_code == 404


def test_edit_details_through_the_api(db, api, owner):
    agency, _ = owner
    account = make_account(agency, "api-bakery", client_name="Bakery", client_email="old@bakery.test")
    body = api.client.patch(f"/api/v1/accounts/{account.id}", json={"client_email": "team@crust.test",
                                                                     "timezone": "Asia/Tokyo"},
                            headers={"Authorization": f"Bearer {api.token}"})
    assert body.status_code == 200, body.get_data(as_text=True)
    data = body.get_json()
    assert (data["client_email"], data["timezone"], data["client_name"]) == ("team@crust.test", "Asia/Tokyo", "Bakery")

    def patch(account_id, payload):
        return api.client.patch(f"/api/v1/accounts/{account_id}", json=payload,
                                headers={"Authorization": f"Bearer {api.token}"})
    error = error_of(patch(account.id, {"client_email": "nope", "language": "fr"}), 422, "validation_failed")
    assert error["fields"] == {"client_email": "Enter a valid e-mail address."}
    assert "Unknown field." in error_of(patch(account.id, {"name": "renamed"}), 422)["fields"]["name"]
    assert error_of(patch(account.id, {"language": "xx"}), 422)["fields"]["language"].startswith("Must be one of")
    db.session.expire_all()
    assert db.session.get(HostedAccount, account.id).language == "en"  # nothing of a refused body was written
    rival, _user = make_agency("Rival", email="rival@agency.test")
    error_of(patch(make_account(rival, "theirs").id, {"client_name": "Mine now"}), 404, "not_found")


# ---- the agency disables and enables an account itself ----------------------------------------------------------

def test_disabled_by_the_agency_the_client_sees_the_closed_page_and_enabling_is_immediate(client, db, owner):
    agency, user = owner
    account = make_account(agency, "bakery", admin_password="client-pass-1")
    assert client.get("/app/login", base_url="http://bakery.localhost").status_code == 200
    accounts.disable(account, agency_actor(user))
    closed = client.get("/app/login", base_url="http://bakery.localhost")
    assert closed.status_code == 403 and 'data-reason="disabled"' in closed.get_data(as_text=True)
    with pytest.raises(Conflict, match="You disabled"):
        accounts.login_as_link(account, user.id, agency_actor(user))
    with pytest.raises(Conflict, match="already disabled"):
        accounts.disable(account, agency_actor(user))
    accounts.enable(account, agency_actor(user))
    assert client.get("/app/login", base_url="http://bakery.localhost").status_code == 200
    db.session.refresh(account)
    assert (account.status, account.disabled_reason, account.disabled_at) == ("active", None, None)
    with pytest.raises(Conflict, match="is not disabled"):
        accounts.enable(account, agency_actor(user))
    assert audited(db, AuditEvent.account_id == account.id) == ["account_disabled_agency", "account_enabled_agency"]


@pytest.mark.parametrize("path", ["one", "batch"])
def test_an_agency_disabled_account_goes_on_renewing_and_stays_disabled(app, db, owner, run_jobs, path):
    agency, user = owner
    add_card(agency)
    today = date.today()
    account = make_account(agency, "paused", period_start=today - timedelta(days=30), period_end=today,
                           anchor_day=today.day)
    accounts.disable(account, agency_actor(user))
    if path == "one":
        renewals.renew(account.id, today)
    else:
        renewals.sweep_renewals()
        run_jobs()
    db.session.expire_all()
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.kind == "renewal"))
    assert invoice.account_id == account.id and invoice.status == "paid"
    account = db.session.get(HostedAccount, account.id)
    assert account.period_end > today and (account.status, account.disabled_reason) == ("disabled", "agency")


def test_the_agency_cannot_enable_what_support_or_an_unpaid_renewal_disabled(db, owner):
    agency, user = owner
    staff = make_support()
    abused = make_account(agency, "spammer")
    from webapp.services.audit import Actor
    support = Actor(f"user:{staff.id}", staff.email)
    report = reports.file(reports.ReportInput(account="spammer", kind="abuse", severity="high", description="Spam",
                                              evidence="Complaints", sample_message=""), staff=staff, actor=support)
    reports.disable_account(report.id, staff=staff, actor=support)
    unpaid = make_account(agency, "late", status="disabled", disabled_reason="unpaid", disabled_at=utcnow())
    db.session.commit()
    for account, message in ((abused, "only support enables it"), (unpaid, "renewal is unpaid")):
        db.session.refresh(account)
        with pytest.raises(Conflict, match=message):
            accounts.enable(account, agency_actor(user))
        with pytest.raises(Conflict, match=message):
            accounts.disable(account, agency_actor(user))
    db.session.expire_all()
    assert db.session.get(HostedAccount, abused.id).disabled_reason == "abuse"
    assert db.session.get(HostedAccount, unpaid.id).disabled_reason == "unpaid"
    with pytest.raises(Conflict, match="referred"):
        accounts.disable(make_account(agency, "referred", kind="commission"), agency_actor(user))
    with pytest.raises(Conflict, match="expired"):
        accounts.disable(make_account(agency, "over", status="expired"), agency_actor(user))
    with pytest.raises(Forbidden):
        accounts.disable(make_account(agency, "fine"), agency_actor(make_member(agency, "billing")))


def test_a_cancelled_account_disabled_then_enabled_is_cancelled_again_and_still_expires(db, owner):
    agency, user = owner
    account = make_account(agency, "leaving", period_end=date.today() + timedelta(days=3))
    accounts.cancel(account, agency_actor(user))
    accounts.disable(account, agency_actor(user))
    accounts.enable(account, agency_actor(user))
    db.session.refresh(account)
    assert account.status == "cancelled" and account.cancelled_at is not None
    accounts.disable(account, agency_actor(user))
    assert renewals.expire_ended(date.today() + timedelta(days=3)) == 1  # disabled or not, it ends


def test_disable_and_enable_buttons_on_the_account_page(client, db, owner):
    agency, _ = owner
    account = make_account(agency, "bakery")
    login(client, "owner@agency.test")
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert 'id="disable-account"' in page and 'data-confirm="Disable bakery?' in page
    token = csrf_token(page)
    assert client.post(f"/accounts/{account.id}/disable").status_code == 400  # CSRF
    for _ in range(2):  # a double press disables once
        response = client.post(f"/accounts/{account.id}/disable", data={"csrf_token": token})
        assert response.status_code == 303 and response.headers["Location"].endswith("#disable")
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert "is already disabled" in page and 'id="enable"' in page and "You disabled this account" in page
    assert 'id="login-as"' not in page
    assert len(audited(db, AuditEvent.action == "account_disabled_agency")) == 1
    client.post(f"/accounts/{account.id}/enable", data={"csrf_token": token})
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert "is enabled again" in page and 'id="disable-account"' in page and 'id="login-as"' in page
    rival, _user = make_agency("Rival", email="rival@agency.test")
    theirs = make_account(rival, "theirs")
    for action in ("disable", "enable", "resume"):
        assert client.post(f"/accounts/{theirs.id}/{action}", data={"csrf_token": token}).status_code == 404
    db.session.refresh(theirs)
    assert theirs.status == "active"


def test_disable_and_enable_through_the_api(db, api, owner):
    agency, _ = owner
    account = make_account(agency, "api-shop")
    body = api.post(f"/accounts/{account.id}/disable").get_json()
    assert (body["status"], body["disabled_reason"]) == ("disabled", "agency")
    error_of(api.post(f"/accounts/{account.id}/disable"), 409, "conflict")
    assert api.get(f"/accounts/{account.id}").get_json()["disabled_reason"] == "agency"
    body = api.post(f"/accounts/{account.id}/enable").get_json()
    assert (body["status"], body["disabled_reason"]) == ("active", None)
    error_of(api.post(f"/accounts/{account.id}/enable"), 409, "conflict")
    error_of(api.post(f"/accounts/{account.id}/enable", json={"now": True}), 422, "validation_failed")
    rival, _user = make_agency("Rival", email="rival@agency.test")
    theirs = make_account(rival, "theirs")
    for action in ("disable", "enable"):
        error_of(api.post(f"/accounts/{theirs.id}/{action}"), 404, "not_found")


def test_the_migration_erases_passwords_kept_before_it_and_keeps_the_fresh_ones_for_their_24_hours(db, owner):
    """Migration 0019's data step, run on rows as the release before it left them."""
    import importlib.util
    from pathlib import Path

    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    path = Path(__file__).resolve().parents[1] / "migrations" / "versions" / "0019_account_flows.py"
    spec = importlib.util.spec_from_file_location("migration_0019", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    agency, _ = owner
    now = utcnow()
    rows = {}
    for name, provisioned, status in (("old-one", now - timedelta(days=3), "active"),
                                      ("fresh-one", now - timedelta(hours=2), "active"),
                                      ("fresh-cancelled", now - timedelta(hours=2), "cancelled")):
        account = make_account(agency, name, status=status, provisioned_at=provisioned,
                               cancelled_at=now if status == "cancelled" else None)
        op = Operation(kind="provision_account", idempotency_key=f"legacy-{name}", agency_id=agency.id,
                       subject_type="account", subject_id=account.id, total=7, progress=7, status="succeeded",
                       result={"login_url": "u", "username": "admin", "password": f"secret-{name}"})
        db.session.add(op)
        db.session.commit()
        rows[name] = (account.id, op.id)
    db.session.remove()
    with db.engine.begin() as conn:
        with Operations.context(MigrationContext.configure(conn)):
            migration._passwords_kept_before()
    kept = {name: _kept(db, op_id) for name, (_id, op_id) in rows.items()}
    assert kept == {"old-one": False, "fresh-one": True, "fresh-cancelled": False}
    fresh = db.session.get(HostedAccount, rows["fresh-one"][0])
    assert fresh.credentials_until == fresh.provisioned_at + timedelta(hours=24)
    assert db.session.get(HostedAccount, rows["old-one"][0]).credentials_until is None
