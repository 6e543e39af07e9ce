"""Issue 17: the holes an adversarial review found, one test (or a few) per item, each failing on
the code before the fix. Rows and gateway calls are counted before and after every refused attempt."""
from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from webapp.models import (AuditEvent, HostedAccount, LoginAsToken, LoginSession, SupportRequest)
from webapp.services import billing, support
from webapp.services.audit import Actor

from .helpers import PASSWORD, csrf_token, login, make_account, make_agency, make_support

YEAR = date.today().year + 1
HOST = "http://acme.localhost"


def _card(agency_id, number="4242424242424242"):
    billing.save_card(agency_id, number=number, exp_month=12, exp_year=YEAR, cvc="123", actor=Actor("system", "tests"))


def _count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# ---- 1. An account leaving an agency ends the agency's way in ------------------------------------------

def _login_as_tab(app, client, account):
    token = csrf_token(client.get(f"/accounts/{account.id}").get_data(as_text=True))
    link = client.post(f"/accounts/{account.id}/login-as", data={"csrf_token": token}).headers["Location"]
    tab = app.test_client()
    assert tab.get(link).status_code == 303
    assert tab.get("/app/settings", base_url=HOST).status_code == 200
    return tab


def _unused_link(client, account) -> str:
    token = csrf_token(client.get(f"/accounts/{account.id}").get_data(as_text=True))
    return client.post(f"/accounts/{account.id}/login-as", data={"csrf_token": token}).headers["Location"]


def _set_password_from(tab) -> int:
    page = tab.get("/app/settings", base_url=HOST)
    if page.status_code != 200:
        return page.status_code
    return tab.post("/app/settings", base_url=HOST, data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "new_password": "taken-over-pass-1",
        "confirm_password": "taken-over-pass-1"}).status_code


@pytest.mark.parametrize("decision", ["detach", "transfer"])
def test_an_account_leaving_its_agency_ends_every_login_as_session_and_link_of_that_agency(app, client, db, decision):
    losing, user = make_agency(email="owner@agency.test")
    gaining, gainer = make_agency(email="gainer@agency.test")
    acme = make_account(losing, "acme", admin_password="client-pass-1", client_email="boss@acme.test")
    staff = make_support()
    login(client, "owner@agency.test")
    tab = _login_as_tab(app, client, acme)
    link = _unused_link(client, acme)
    # The client's own login (with its password) is not the agency's: it stays.
    own = app.test_client()
    page = own.get("/app/login", base_url=HOST)
    assert own.post("/app/login", base_url=HOST, data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                       "username": "admin", "password": "client-pass-1"}
                    ).status_code == 303
    actor = Actor(f"user:{user.id}", user.email, None, losing.id)
    if decision == "detach":
        request = support.request_detach(acme, user, client_email="boss@acme.test", actor=actor)
    else:
        request = support.request_transfer(gaining.id, gainer, account_name="acme", admin_email="boss@acme.test",
                                           actor=Actor(f"user:{gainer.id}", gainer.email, None, gaining.id))
        request.status = "open"  # the admin confirmed
        db.session.commit()
    support.decide(request.id, approve=True, reason="", staff=staff, actor=Actor(f"user:{staff.id}", staff.email))

    # The former agency's tab lands on the login page and cannot set a password; its unused link opens nothing.
    settings = tab.get("/app/settings", base_url=HOST)
    assert settings.status_code == 302 and settings.headers["Location"].endswith("/app/login?next=%2Fapp%2Fsettings")
    assert _set_password_from(tab) == 302
    assert app.test_client().get(link).status_code == 403
    assert own.get("/app/settings", base_url=HOST).status_code == 200
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)
                             .where(LoginSession.opened_by_agency_id.is_not(None))) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAsToken)
                             .where(LoginAsToken.used_at.is_(None))) == 0
    ended = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "agency_access_ended"))
    assert (ended.agency_id, ended.account_id, ended.detail) == (
        losing.id, acme.id, {"login_as_sessions": 1, "login_as_links": 1})


def test_a_rejected_request_or_another_accounts_move_leaves_the_login_as_session_alone(app, client, db):
    agency, user = make_agency(email="owner@agency.test")
    acme = make_account(agency, "acme", admin_password="client-pass-1", client_email="boss@acme.test")
    other = make_account(agency, "other-shop", admin_password="client-pass-1")
    staff = make_support()
    login(client, "owner@agency.test")
    tab = _login_as_tab(app, client, acme)
    actor = Actor(f"user:{user.id}", user.email, None, agency.id)
    staff_actor = Actor(f"user:{staff.id}", staff.email)
    rejected = support.request_detach(acme, user, client_email="boss@acme.test", actor=actor)
    support.decide(rejected.id, approve=False, reason="Not now", staff=staff, actor=staff_actor)
    moved = support.request_detach(other, user, client_email="boss@other.test", actor=actor)
    support.decide(moved.id, approve=True, reason="", staff=staff, actor=staff_actor)
    assert tab.get("/app/settings", base_url=HOST).status_code == 200
    assert db.session.get(SupportRequest, rejected.id).status == "rejected"
