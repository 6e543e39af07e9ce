"""Issue 19: agencies join at /signup (AGENCY_SIGNUP open, approval, closed), confirm their e-mail by a
single-use link, are greeted with their first steps, and add a trial before a card and a paid account
after; and the dashboard's "Forgot password?" with W5's guarantees."""
import re

import pytest
import sqlalchemy as sa
import time_machine

from webapp.models import Agency, AuditEvent, HostedAccount, LoginSession, OutboundEmail, User, UserLink
from webapp.services import agencies
from webapp.services.audit import Actor

from .helpers import PASSWORD, csrf_token, login, make_agency, make_support

NEW_PASSWORD = "plum-orchard-lantern-42"


@pytest.fixture
def signup_mode(app):
    before = app.config["AGENCY_SIGNUP"]
    yield lambda mode: app.config.__setitem__("AGENCY_SIGNUP", mode)
    app.config["AGENCY_SIGNUP"] = before


def _sign_up(client, **overrides):
    page = client.get("/signup").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "agency_name": "Northwind Studio", "name": "Nora North",
            "email": "Nora@Northwind.test", "password": NEW_PASSWORD, "timezone": "Europe/Paris", "language": "en"}
    data.update(overrides)
    return client.post("/signup", data=data)


def _link(db, kind: str, path: str) -> str:
    body = db.session.scalars(sa.select(OutboundEmail.body_text).where(OutboundEmail.kind == kind)
                              .order_by(OutboundEmail.id.desc())).first()
    assert body, f"no {kind} e-mail"
    return re.search(rf"http://localhost({path}/\S+)", body).group(1)


def _press(client, path):
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf_token(page.get_data(as_text=True))})


def test_sign_up_confirm_then_trial_before_the_card_and_a_paid_account_after(app, db, client):
    assert "Join the agency program" in client.get("/login").get_data(as_text=True)
    sent = _sign_up(client)
    assert sent.status_code == 201 and "nora@northwind.test" in sent.get_data(as_text=True)
    owner = db.session.scalar(sa.select(User).where(User.email == "nora@northwind.test"))
    assert owner.team_role == "owner" and owner.language == "en" and owner.email_confirmed_at is None
    assert owner.agency.state == "confirming" and owner.agency.name == "Northwind Studio"
    # The link is stored hashed only.
    token_path = _link(db, "signup_confirm", "/signup/confirm")
    token = token_path.rsplit("/", 1)[1]
    assert token not in str(db.session.scalars(sa.select(UserLink.token_hash)).all())

    # Not before the e-mail is confirmed: the login says so and offers a new link.
    refused = login(app.test_client(), "nora@northwind.test", NEW_PASSWORD)
    assert refused.status_code == 403 and "Confirm your e-mail first" in refused.get_data(as_text=True)

    # A GET of the link changes nothing (mail scanners); the button confirms and opens the dashboard.
    browser = app.test_client()
    assert browser.get(token_path).status_code == 200
    assert db.session.get(User, owner.id).email_confirmed_at is None
    opened = _press(browser, token_path)
    assert opened.status_code == 303 and opened.headers["Location"].endswith("/")
    db.session.expire_all()
    assert db.session.get(Agency, owner.agency_id).state == "active"
    home = browser.get("/").get_data(as_text=True)
    assert 'id="first-steps"' in home and "Add a card" in home and "Set your branding" in home
    assert browser.get(token_path).status_code == 410  # used

    # A trial needs no card; a paid plan asks for the card first, and charges nothing.
    from .test_accounts import YEAR, form_data
    paid = browser.post("/accounts/new", data=form_data(browser, name="paid-first"))
    assert paid.status_code == 422 and "Add a card in Billing profile" in paid.get_data(as_text=True)
    trial = browser.post("/accounts/new", data=form_data(browser, name="first-trial", term="trial", contact_limit="500"))
    assert trial.status_code == 303
    card_page = browser.get("/billing/profile").get_data(as_text=True)
    saved = browser.post("/billing/profile", data={"csrf_token": csrf_token(card_page), "number": "4242 4242 4242 4242",
                                                   "exp_month": "12", "exp_year": str(YEAR), "cvc": "123"})
    assert saved.status_code == 303
    assert browser.post("/accounts/new", data=form_data(browser, name="first-paid")).status_code == 303
    assert 'id="first-steps"' not in browser.get("/").get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount)
                             .where(HostedAccount.agency_id == owner.agency_id, HostedAccount.kind == "resold")) == 2


@pytest.mark.parametrize("overrides, field, message", [
    ({"email": "OWNER@agency.test"}, "email", "already exists"),
    ({"password": "short-pw"}, "password", "12"),
    ({"password": "1qaz2wsx3edc"}, "password", "common"),
    ({"agency_name": ""}, "agency_name", "agency"),
    ({"timezone": "Mars/Olympus"}, "timezone", "time zone"),
    ({"email": "not an e-mail"}, "email", ""),
    ({"name": "Nora\x00"}, "name", ""),
])
def test_bad_sign_ups_are_told_by_the_field_and_nothing_is_written(app, db, client, overrides, field, message):
    make_agency(email="owner@agency.test")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Agency))
    answer = _sign_up(client, **overrides)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and message.lower() in page.lower()
    assert 'is-invalid' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Agency)) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)) == 0


def test_an_expired_or_replaced_confirmation_link_is_refused_and_a_new_one_can_be_asked(app, db, client):
    with time_machine.travel("2026-12-02 10:00:00+00:00", tick=False) as clock:
        _sign_up(client)
        first = _link(db, "signup_confirm", "/signup/confirm")
        clock.shift(25 * 3600)
        dead = client.get(first)
        assert dead.status_code == 410 and "expired" in dead.get_data(as_text=True)
        page = client.get("/login").get_data(as_text=True)
        client.post("/signup/resend", data={"csrf_token": csrf_token(page), "email": "nora@northwind.test"})
        second = _link(db, "signup_confirm", "/signup/confirm")
        assert second != first
        assert _press(app.test_client(), second).status_code == 303
    # Asking for an e-mail nobody signed up with says the same and sends nothing.
    count = db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail))
    page = client.get("/login").get_data(as_text=True)
    answer = client.post("/signup/resend", data={"csrf_token": csrf_token(page), "email": "nobody@else.test"})
    assert answer.status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)) == count


def test_with_approval_support_decides_and_the_applicant_is_told(app, db, client, signup_mode):
    signup_mode("approval")
    staff = make_support()
    _sign_up(client)
    waiting = _press(app.test_client(), _link(db, "signup_confirm", "/signup/confirm"))
    assert waiting.status_code == 200 and "approv" in waiting.get_data(as_text=True)
    agency = db.session.scalar(sa.select(Agency).where(Agency.name == "Northwind Studio"))
    assert agency.state == "awaiting_approval"
    to_support = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "agency_application"))
    assert to_support.to_address == app.config["SUPPORT_EMAIL"]
    refused = login(app.test_client(), "nora@northwind.test", NEW_PASSWORD)
    assert refused.status_code == 403 and "with our team" in refused.get_data(as_text=True)
    actor = Actor(f"user:{staff.id}", staff.email)
    agencies.decide_application(agency.id, approve=True, reason="", actor=actor)
    assert login(app.test_client(), "nora@northwind.test", NEW_PASSWORD).status_code == 303
    told = db.session.scalars(sa.select(OutboundEmail.to_address).where(OutboundEmail.agency_id == agency.id)).all()
    assert "nora@northwind.test" in told


def test_a_rejected_application_cannot_sign_in_and_says_why(app, db, client, signup_mode):
    signup_mode("approval")
    staff = make_support()
    _sign_up(client)
    _press(app.test_client(), _link(db, "signup_confirm", "/signup/confirm"))
    agency = db.session.scalar(sa.select(Agency).where(Agency.name == "Northwind Studio"))
    actor = Actor(f"user:{staff.id}", staff.email)
    with pytest.raises(Exception) as no_reason:
        agencies.decide_application(agency.id, approve=False, reason="", actor=actor)
    assert getattr(no_reason.value, "status", None) == 422
    agencies.decide_application(agency.id, approve=False, reason="We only take agencies in the EU.", actor=actor)
    refused = login(app.test_client(), "nora@northwind.test", NEW_PASSWORD)
    assert refused.status_code == 403 and "only take agencies in the EU" in refused.get_data(as_text=True)
    with pytest.raises(Exception) as twice:
        agencies.decide_application(agency.id, approve=True, reason="", actor=actor)
    assert getattr(twice.value, "status", None) == 409


def test_a_closed_sign_up_says_so_and_creates_nothing(app, db, client, signup_mode):
    signup_mode("closed")
    page = client.get("/signup")
    assert page.status_code == 200 and "not taking new agencies" in page.get_data(as_text=True).replace("\n", " ")
    answer = client.post("/signup", data={"agency_name": "X", "name": "Y", "email": "y@x.test",
                                          "password": NEW_PASSWORD, "timezone": "UTC", "language": "en"})
    assert answer.status_code in (200, 400)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Agency)) == 0
    assert "Join the agency program" not in client.get("/login").get_data(as_text=True)


# ---- "Forgot password?" on the dashboard (W5's guarantees) ----------------------------------------------

def _forgot(client, email, ip="10.0.0.1", host="localhost"):
    page = client.get("/forgot", base_url=f"http://{host}").get_data(as_text=True)
    return client.post("/forgot", base_url=f"http://{host}", data={"csrf_token": csrf_token(page), "email": email},
                       environ_base={"REMOTE_ADDR": ip})


def test_forgot_password_answers_the_same_and_the_link_works_once_and_ends_every_login(app, db, run_jobs):
    _agency, owner = make_agency(email="owner@agency.test")
    signed_in = app.test_client()
    login(signed_in, "owner@agency.test")
    known = _forgot(app.test_client(), "Owner@Agency.test")
    unknown = _forgot(app.test_client(), "nobody@agency.test")
    assert known.status_code == unknown.status_code == 200
    def strip(response):  # the CSRF tokens differ, nothing else may
        return re.sub(r'[\w-]{20,}\.[\w-]+\.[\w-]+', "", response.get_data(as_text=True))
    assert strip(known) == strip(unknown)
    run_jobs()
    emails = db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.kind == "password_reset")).all()
    assert [e.to_address for e in emails] == ["owner@agency.test"]
    path = _link(db, "password_reset", "/reset-password")
    browser = app.test_client()
    form = browser.get(path)
    assert form.status_code == 200 and form.headers["Cache-Control"] == "no-store"
    weak = browser.post(path, data={"csrf_token": csrf_token(form.get_data(as_text=True)),
                                    "new_password": "short", "confirm_password": "short"})
    assert weak.status_code == 422
    done = browser.post(path, data={"csrf_token": csrf_token(form.get_data(as_text=True)),
                                    "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert done.status_code == 303
    assert signed_in.get("/").status_code == 302  # every other login ended
    assert browser.get(path).status_code == 410  # once
    assert login(app.test_client(), "owner@agency.test", NEW_PASSWORD).status_code == 303
    assert login(app.test_client(), "owner@agency.test", PASSWORD).status_code == 401
    assert "password_reset" in db.session.scalars(sa.select(AuditEvent.action)).all()


def test_the_reset_link_is_built_from_the_platform_domain_and_lasts_an_hour(app, db, run_jobs):
    make_agency(email="owner@agency.test")
    with time_machine.travel("2026-12-02 10:00:00+00:00", tick=False) as clock:
        app.config["PLATFORM_DOMAIN"], before = "localhost", app.config["PLATFORM_DOMAIN"]
        _forgot(app.test_client(), "owner@agency.test")
        run_jobs()
        body = db.session.scalar(sa.select(OutboundEmail.body_text).where(OutboundEmail.kind == "password_reset"))
        assert "http://localhost/reset-password/" in body and "evil" not in body
        path = _link(db, "password_reset", "/reset-password")
        clock.shift(61 * 60)
        assert app.test_client().get(path).status_code == 410
        app.config["PLATFORM_DOMAIN"] = before


def test_reset_requests_are_throttled_per_email_without_telling(app, db, run_jobs):
    make_agency(email="owner@agency.test")
    answers = [_forgot(app.test_client(), "owner@agency.test", ip=f"10.1.0.{i}").status_code for i in range(5)]
    assert answers == [200] * 5
    run_jobs()
    sent = db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)
                             .where(OutboundEmail.kind == "password_reset"))
    assert sent == app.config["RESET_EMAILS_PER_ACCOUNT"]


def test_a_set_password_link_from_support_confirms_the_email_and_signs_in_after(app, db):
    staff = make_support()
    agency, link = None, None
    result = agencies.create(name="Made By Support", owner_email="made@agency.test", owner_name="Mo",
                             actor=Actor(f"user:{staff.id}", staff.email))
    owner = db.session.scalar(sa.select(User).where(User.email == "made@agency.test"))
    assert owner.password_hash is None and result is not None
    path = _link(db, "agency_created", "/set-password") if db.session.scalar(
        sa.select(OutboundEmail.id).where(OutboundEmail.kind == "agency_created")) else None
    if path is None:
        body = db.session.scalars(sa.select(OutboundEmail.body_text).where(OutboundEmail.to_address == "made@agency.test")).first()
        path = re.search(r"http://localhost(/set-password/\S+)", body).group(1)
    assert login(app.test_client(), "made@agency.test", NEW_PASSWORD).status_code == 401
    browser = app.test_client()
    form = browser.get(path)
    done = browser.post(path, data={"csrf_token": csrf_token(form.get_data(as_text=True)),
                                    "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert done.status_code == 303
    assert login(app.test_client(), "made@agency.test", NEW_PASSWORD).status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) >= 1
    del agency, link


def test_two_sign_ups_with_one_email_at_once_keep_one_and_tell_the_other(app, db, monkeypatch):
    """The check-then-insert race: the second sign-up passes the lookup (monkeypatched to see nothing)
    and the unique e-mail in the database refuses it, by the field, with nothing of it written."""
    agencies.sign_up(agencies.Application(agency_name="First", name="A", email="race@agency.test",
                                          password=NEW_PASSWORD, timezone="UTC", language="en"), ip=None)
    monkeypatch.setattr(agencies, "_email_taken", lambda email: False)
    with pytest.raises(agencies.ValidationFailed) as refused:
        agencies.sign_up(agencies.Application(agency_name="Second", name="B", email="RACE@agency.test",
                                              password=NEW_PASSWORD, timezone="UTC", language="en"), ip=None)
    assert "already exists" in refused.value.fields["email"]
    assert db.session.scalars(sa.select(Agency.name)).all() == ["First"]
