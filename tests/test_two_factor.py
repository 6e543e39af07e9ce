"""Issue 19: two-factor sign-in (enrolment on My account, the code after the password, recovery codes,
replays refused, required for support and by an Owner), re-authentication, and My account's name,
e-mail and "Where you're signed in". The clock is moved with time-machine, never slept on."""
import re
import time

import pyotp
import pytest
import sqlalchemy as sa
import time_machine

from webapp.models import AuditEvent, LoginSession, OutboundEmail, User
from webapp.services import two_factor

from .helpers import PASSWORD, audited, csrf_token, login, make_agency, make_support

T0 = "2026-12-02 10:00:00+00:00"


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def _post(client, path, data=None, page=None):
    html = client.get(page or path).get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_token(html), **(data or {})})


def _enrol(client, db, user_id) -> tuple[str, list[str]]:
    page = client.get("/my-account/two-factor")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'src="data:image/svg+xml;base64,' in html
    assert page.headers["Cache-Control"] == "no-store"
    db.session.expire_all()
    secret = db.session.get(User, user_id).totp_secret
    assert secret and " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in html
    assert "otpauth" not in html  # the QR code is an image, not a link a page could leak
    wrong = client.post("/my-account/two-factor", data={"csrf_token": csrf_token(html), "code": "000000"})
    assert wrong.status_code == 422 and "does not match" in wrong.get_data(as_text=True)
    done = client.post("/my-account/two-factor", data={"csrf_token": csrf_token(html),
                                                         "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li class=\"col\">([0-9a-f]{5}-[0-9a-f]{5})</li>", done.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    db.session.expire_all()
    return secret, codes


def _password_step(app, email):
    client = app.test_client()
    answer = login(client, email)
    return client, answer


def _code_step(client, code):
    html = client.get("/login/code").get_data(as_text=True)
    return client.post("/login/code", data={"csrf_token": csrf_token(html), "code": code})


def test_enrol_then_sign_in_with_a_code_a_recovery_code_once_and_never_a_replayed_code(app, db, clock):
    _agency, owner = make_agency(email="owner@agency.test")
    client = app.test_client()
    login(client, "owner@agency.test")
    secret, codes = _enrol(client, db, owner.id)
    assert db.session.get(User, owner.id).has_2fa
    # The recovery codes are stored hashed only; a later page never shows them again.
    assert codes[0] not in client.get("/my-account/two-factor").get_data(as_text=True)
    assert "10 recovery codes left" in client.get("/my-account").get_data(as_text=True)

    # After the password, the code; the dashboard stays shut until it is given.
    clock.shift(60)
    second, answer = _password_step(app, "owner@agency.test")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/login/code")
    assert second.get("/").status_code == 302
    assert _code_step(second, "123456").status_code == 401
    now_code = pyotp.TOTP(secret).now()
    assert _code_step(second, now_code).status_code == 303
    assert second.get("/").status_code == 200

    # The same code again (seen over a shoulder, within its 30 s) is refused; the next step's is taken.
    third, _ = _password_step(app, "owner@agency.test")
    assert _code_step(third, now_code).status_code == 401
    clock.shift(30)
    assert _code_step(third, pyotp.TOTP(secret).now()).status_code == 303

    # A code one step old is still accepted (a slow typist); two steps old is not.
    clock.shift(60)
    old = pyotp.TOTP(secret).at(time.time() - 60)
    fourth, _ = _password_step(app, "owner@agency.test")
    assert _code_step(fourth, old).status_code == 401
    assert _code_step(fourth, pyotp.TOTP(secret).at(time.time() - 30)).status_code == 303

    # A recovery code signs in once, typed with or without its dash.
    fifth, _ = _password_step(app, "owner@agency.test")
    assert _code_step(fifth, codes[3].upper().replace("-", "")).status_code == 303
    sixth, _ = _password_step(app, "owner@agency.test")
    assert _code_step(sixth, codes[3]).status_code == 401
    assert two_factor.recovery_codes_left(db.session.get(User, owner.id)) == 9
    actions = audited(db, AuditEvent.actor == f"user:{owner.id}")
    assert "two_factor_enabled" in actions


def test_too_many_wrong_codes_send_the_person_back_to_the_password(app, db, clock):
    _agency, owner = make_agency(email="owner@agency.test")
    client = app.test_client()
    login(client, "owner@agency.test")
    _enrol(client, db, owner.id)
    second, _ = _password_step(app, "owner@agency.test")
    answers = [_code_step(second, f"{i:06d}").status_code for i in range(6)]
    assert answers[:5] == [401] * 5 and answers[5] == 303  # restarted: back to the password
    assert second.get("/login/code").headers["Location"].endswith("/login")


def test_the_code_step_expires_and_cannot_be_reached_without_the_password(app, db, clock):
    _agency, owner = make_agency(email="owner@agency.test")
    client = app.test_client()
    login(client, "owner@agency.test")
    secret, _ = _enrol(client, db, owner.id)
    assert app.test_client().get("/login/code").headers["Location"].endswith("/login")
    second, _ = _password_step(app, "owner@agency.test")
    html = second.get("/login/code").get_data(as_text=True)
    clock.shift(11 * 60)
    answer = second.post("/login/code", data={"csrf_token": csrf_token(html), "code": pyotp.TOTP(secret).now()})
    assert answer.headers["Location"].endswith("/login") and second.get("/").status_code == 302


def test_support_must_enrol_before_anything_else_when_the_rule_is_on(app, db, clock):
    staff = make_support()
    app.config["SUPPORT_REQUIRE_2FA"] = True
    try:
        client = app.test_client()
        answer = login(client, staff.email)
        assert answer.status_code == 303 and answer.headers["Location"].endswith("/my-account/two-factor")
        for path in ("/support", "/support/agencies", "/my-account"):
            response = client.get(path)
            assert response.status_code == 303 and response.headers["Location"].endswith("/my-account/two-factor")
        htmx = client.get("/support", headers={"HX-Request": "true"})
        assert htmx.headers.get("HX-Redirect", "").endswith("/my-account/two-factor")
        _enrol(client, db, staff.id)
        assert client.get("/support").status_code == 200
        # Required: it cannot be turned off.
        page = client.get("/my-account/two-factor").get_data(as_text=True)
        assert "cannot be turned off" in page
        off = client.post("/my-account/two-factor/off", data={"csrf_token": csrf_token(page)})
        assert off.status_code == 303 and db.session.get(User, staff.id).has_2fa
    finally:
        app.config["SUPPORT_REQUIRE_2FA"] = False


def test_an_owner_requiring_2fa_takes_members_without_it_to_enrolment(app, db, clock):
    agency, _owner = make_agency(email="owner@agency.test")
    agency.require_2fa = True
    db.session.commit()
    client = app.test_client()
    answer = login(client, "owner@agency.test")
    assert answer.headers["Location"].endswith("/my-account/two-factor")
    assert client.get("/").headers["Location"].endswith("/my-account/two-factor")
    assert client.post("/logout", data={"csrf_token": csrf_token(
        client.get("/my-account/two-factor").get_data(as_text=True))}).status_code == 303


def test_turning_2fa_off_and_new_recovery_codes_ask_for_the_password_again_after_ten_minutes(app, db, clock):
    _agency, owner = make_agency(email="owner@agency.test")
    client = app.test_client()
    login(client, "owner@agency.test")
    secret, codes = _enrol(client, db, owner.id)
    clock.shift(11 * 60)
    page = client.get("/my-account/two-factor").get_data(as_text=True)
    off = client.post("/my-account/two-factor/off", data={"csrf_token": csrf_token(page)},
                      headers={"Referer": "http://localhost/my-account/two-factor"})
    assert off.status_code == 303 and "/reauth" in off.headers["Location"]
    assert db.session.get(User, owner.id).has_2fa
    reauth = client.get(off.headers["Location"]).get_data(as_text=True)
    assert client.post(off.headers["Location"], data={"csrf_token": csrf_token(reauth), "password": PASSWORD,
                                                      "code": "000000"}).status_code == 422
    assert client.post(off.headers["Location"], data={"csrf_token": csrf_token(reauth), "password": PASSWORD,
                                                      "code": pyotp.TOTP(secret).now()}).status_code == 303
    renewed = client.post("/my-account/two-factor/recovery-codes", data={"csrf_token": csrf_token(page)})
    new_codes = re.findall(r"<li class=\"col\">([0-9a-f]{5}-[0-9a-f]{5})</li>", renewed.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    assert client.post("/my-account/two-factor/off", data={"csrf_token": csrf_token(page)}).status_code == 303
    db.session.expire_all()
    user = db.session.get(User, owner.id)
    assert not user.has_2fa and user.totp_secret is None
    assert two_factor.recovery_codes_left(user) == 0
    # Signing in is the password alone again.
    assert login(app.test_client(), "owner@agency.test").headers["Location"].endswith("/")


def test_support_resets_a_lost_phone_and_the_user_is_told(app, db, clock):
    _agency, owner = make_agency(email="owner@agency.test")
    client = app.test_client()
    login(client, "owner@agency.test")
    _enrol(client, db, owner.id)
    from webapp.services.audit import Actor
    two_factor.reset_by_support(db.session.get(User, owner.id), Actor("user:0", "staff"))
    assert client.get("/").status_code == 302  # every login ended
    db.session.expire_all()
    assert not db.session.get(User, owner.id).has_2fa
    told = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "two_factor_reset"))
    assert told.to_address == "owner@agency.test"


def test_my_name_and_my_email_change_by_a_link_to_the_new_address_and_the_old_one_is_told(app, db, clock):
    _agency, owner = make_agency(email="owner@agency.test")
    make_agency(email="taken@agency.test")
    client = app.test_client()
    login(client, "owner@agency.test")
    assert _post(client, "/my-account/name", {"name-name": ""}, page="/my-account").status_code == 422
    assert _post(client, "/my-account/name", {"name-name": "Olive Owner"}, page="/my-account").status_code == 303
    assert db.session.get(User, owner.id).name == "Olive Owner"

    taken = _post(client, "/my-account/email", {"email-email": "TAKEN@agency.test"}, page="/my-account")
    assert taken.status_code == 422 and "Another login already uses this e-mail" in taken.get_data(as_text=True)
    assert _post(client, "/my-account/email", {"email-email": "not-an-email"}, page="/my-account").status_code == 422
    asked = _post(client, "/my-account/email", {"email-email": "New@Agency.test"}, page="/my-account")
    assert asked.status_code == 303
    assert db.session.get(User, owner.id).email == "owner@agency.test"  # not yet
    assert "Waiting for new@agency.test" in client.get("/my-account").get_data(as_text=True)
    emails = {e.kind: e for e in db.session.scalars(sa.select(OutboundEmail))}
    assert emails["email_change_confirm"].to_address == "new@agency.test"
    assert emails["email_change_requested"].to_address == "owner@agency.test"
    link = re.search(r"http://localhost/my-account/email/(\S+)", emails["email_change_confirm"].body_text).group(1)

    # The link opens in any browser; a GET only shows the button (mail scanners follow links).
    stranger = app.test_client()
    page = stranger.get(f"/my-account/email/{link}")
    assert page.status_code == 200 and db.session.get(User, owner.id).email == "owner@agency.test"
    confirmed = stranger.post(f"/my-account/email/{link}", data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert confirmed.status_code == 303
    db.session.expire_all()
    assert db.session.get(User, owner.id).email == "new@agency.test"
    old_told = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "email_changed"))
    assert old_told.to_address == "owner@agency.test"
    again = stranger.post(f"/my-account/email/{link}", data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert again.status_code == 410
    assert login(app.test_client(), "new@agency.test").status_code == 303
    assert login(app.test_client(), "owner@agency.test").status_code == 401


def test_changing_the_email_after_ten_minutes_asks_for_the_password_first(app, db, clock):
    make_agency(email="owner@agency.test")
    client = app.test_client()
    login(client, "owner@agency.test")
    clock.shift(11 * 60)
    asked = _post(client, "/my-account/email", {"email-email": "new@agency.test"}, page="/my-account")
    assert asked.status_code == 303 and "/reauth" in asked.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)) == 0


def test_where_you_are_signed_in_lists_each_login_and_signs_them_out(app, db, clock):
    _agency, owner = make_agency(email="owner@agency.test")
    phone = app.test_client()
    phone.environ_base.update({"HTTP_USER_AGENT": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
                                                  "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                               "REMOTE_ADDR": "203.0.113.7"})
    login(phone, "owner@agency.test")
    laptop = app.test_client()
    laptop.environ_base.update({"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
                                                   "(KHTML, like Gecko) Chrome/131.0 Safari/537.36"})
    login(laptop, "owner@agency.test")
    third = app.test_client()
    login(third, "owner@agency.test")
    page = laptop.get("/my-account").get_data(as_text=True)
    assert "Mobile Safari on iOS" in page and "203.0.113.7" in page and "Chrome on Linux" in page
    assert "This browser" in page
    ids = [row.id for row in db.session.scalars(sa.select(LoginSession).where(LoginSession.user_id == owner.id))]
    phone_id = db.session.scalar(sa.select(LoginSession.id).where(LoginSession.ip == "203.0.113.7"))
    assert laptop.post(f"/my-account/logins/{phone_id}/end",
                       data={"csrf_token": csrf_token(page)}).status_code == 303
    assert phone.get("/").status_code == 302 and laptop.get("/").status_code == 200
    # Another user's login id is not found.
    _other_agency, other = make_agency(email="other@agency.test")
    login(app.test_client(), "other@agency.test")
    theirs = db.session.scalar(sa.select(LoginSession.id).where(LoginSession.user_id == other.id))
    assert laptop.post(f"/my-account/logins/{theirs}/end", data={"csrf_token": csrf_token(page)}).status_code == 404
    assert laptop.post("/my-account/logins/end-others", data={"csrf_token": csrf_token(page)}).status_code == 303
    assert third.get("/").status_code == 302 and laptop.get("/").status_code == 200
    assert len(ids) == 3
    assert "signed_out_elsewhere" in audited(db)


def test_saving_a_card_and_creating_an_api_token_ask_for_a_recent_login(app, db, clock):
    make_agency(email="owner@agency.test")
    client = app.test_client()
    login(client, "owner@agency.test")
    assert client.get("/billing/profile").status_code == 200
    api_page = client.get("/settings/api").get_data(as_text=True)
    clock.shift(11 * 60)
    card = client.get("/billing/profile")
    assert card.status_code == 303 and "/reauth?next=/billing/profile" in card.headers["Location"]
    token = client.post("/settings/api", data={"csrf_token": csrf_token(api_page), "name": "CI"},
                        headers={"Referer": "http://localhost/settings/api"})
    assert token.status_code == 303 and "/reauth?next=/settings/api" in token.headers["Location"]
    from webapp.models import ApiToken
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0
    reauth = client.get(card.headers["Location"]).get_data(as_text=True)
    back = client.post(card.headers["Location"], data={"csrf_token": csrf_token(reauth), "password": PASSWORD})
    assert back.status_code == 303 and back.headers["Location"].endswith("/billing/profile")
    assert client.get("/billing/profile").status_code == 200
