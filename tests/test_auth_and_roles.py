"""Logins for the three roles, host routing, CSRF, and each role kept out of the others' pages."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from webapp.models import AuditEvent, User

from .helpers import PASSWORD, audited, csrf_token, login, make_account, make_agency, make_support


def test_login_page_is_served_and_unknown_users_get_a_clear_message(client, db):
    assert client.get("/login").status_code == 200
    make_agency(email="nora@agency.test")
    wrong = login(client, "nora@agency.test", "not-the-password")
    assert wrong.status_code == 401
    assert "Wrong e-mail or password." in wrong.get_data(as_text=True)
    unknown = login(client, "nobody@agency.test")
    assert unknown.status_code == 401
    assert "Wrong e-mail or password." in unknown.get_data(as_text=True)


def test_agency_user_logs_in_sees_the_shell_and_logs_out(client, db):
    make_agency("Northwind", email="nora@agency.test")
    response = login(client, "NORA@agency.test ")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    home = client.get("/")
    html = home.get_data(as_text=True)
    assert home.status_code == 200
    assert "Resold accounts" in html and 'id="side-menu"' in html and "My account" in html
    assert home.headers["Vary"] == "HX-Request" or "HX-Request" in home.headers["Vary"]
    logout = client.post("/logout", data={"csrf_token": csrf_token(html)})
    assert logout.status_code == 303
    assert client.get("/").status_code == 302  # back to the login page


def test_session_cookie_is_httponly_and_lax_and_rotated_at_login(client, db):
    make_agency(email="nora@agency.test")
    client.get("/login")
    before = client.get_cookie("session")
    response = login(client, "nora@agency.test")
    cookie = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get_cookie("session").value != before.value


def test_open_redirects_are_refused_after_login(client, db):
    make_agency(email="nora@agency.test")
    page = client.get("/login?next=https://evil.test/")
    response = client.post("/login?next=https://evil.test/", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "email": "nora@agency.test", "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_a_post_without_csrf_token_is_refused_and_writes_nothing(client, db):
    make_agency(email="nora@agency.test")
    response = client.post("/login", data={"email": "nora@agency.test", "password": PASSWORD})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    login(client, "nora@agency.test")
    # An htmx-style POST with no X-CSRFToken header is refused too.
    refused = client.post("/my-account/preferences", data={"prefs-language": "fr", "prefs-timezone": "UTC"},
                          headers={"HX-Request": "true"})
    assert refused.status_code == 400
    db.session.expire_all()
    assert db.session.scalar(sa.select(User.language)) == "en"


def test_csrf_token_in_the_htmx_header_is_accepted(client, db):
    make_agency(email="nora@agency.test")
    login(client, "nora@agency.test")
    token = csrf_token(client.get("/my-account").get_data(as_text=True))
    response = client.post("/my-account/preferences", data={"prefs-language": "fr", "prefs-timezone": "Europe/Paris"},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.scalar(sa.select(User.language)) == "fr"
    assert "Mon compte" in client.get("/my-account").get_data(as_text=True)


def test_support_staff_land_on_the_console_and_cannot_open_agency_pages(client, db):
    make_support("staff@agencyhq.test")
    response = login(client, "staff@agencyhq.test")
    assert response.headers["Location"] == "/support"
    assert client.get("/support").status_code == 200
    assert client.get("/").status_code == 403


def test_agency_users_cannot_open_the_support_console(client, db):
    make_agency(email="nora@agency.test")
    login(client, "nora@agency.test")
    assert client.get("/support").status_code == 403


def test_another_agencys_account_is_not_found(client, db):
    agency_a, _ = make_agency("A", email="a@agency.test")
    agency_b, _ = make_agency("B", email="b@agency.test")
    mine = make_account(agency_b, "beta-account")
    theirs = make_account(agency_a, "alpha-account")
    login(client, "b@agency.test")
    assert client.get(f"/accounts/{mine.id}").status_code == 200
    assert client.get(f"/accounts/{theirs.id}").status_code == 404
    for bad in ("abc", "0", "-1", "99999999999999999999999", "1%00"):
        assert client.get(f"/accounts/{bad}").status_code == 404
    listing = client.get("/").get_data(as_text=True)
    assert "beta-account" in listing and "alpha-account" not in listing


def test_change_password_needs_the_current_one_and_ends_other_sessions(app, client, db):
    make_agency(email="nora@agency.test")
    other = app.test_client()
    login(other, "nora@agency.test")
    login(client, "nora@agency.test")
    token = csrf_token(client.get("/my-account").get_data(as_text=True))
    wrong = client.post("/my-account/password", data={"csrf_token": token, "pw-current_password": "nope",
                                                      "pw-new_password": "a-new-long-passphrase",
                                                      "pw-confirm_password": "a-new-long-passphrase"})
    assert wrong.status_code == 422 and "The current password is not right." in wrong.get_data(as_text=True)
    weak = client.post("/my-account/password", data={"csrf_token": token, "pw-current_password": PASSWORD,
                                                     "pw-new_password": "short", "pw-confirm_password": "short"})
    assert "at least 12 characters" in weak.get_data(as_text=True)
    ok = client.post("/my-account/password", data={"csrf_token": token, "pw-current_password": PASSWORD,
                                                   "pw-new_password": "a-new-long-passphrase",
                                                   "pw-confirm_password": "a-new-long-passphrase"})
    assert ok.status_code == 303
    assert client.get("/my-account").status_code == 200  # this session goes on
    assert other.get("/my-account").status_code == 302  # the other one is over
    from webapp.models import LoginSession
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 1  # and its row went
    assert login(app.test_client(), "nora@agency.test", "a-new-long-passphrase").status_code == 303
    assert audited(db) == ["password_changed"]


def test_passwords_are_stored_as_argon2id_hashes(app, client, db, monkeypatch):
    _, user = make_agency(email="nora@agency.test")
    login(client, "nora@agency.test")
    token = csrf_token(client.get("/my-account").get_data(as_text=True))
    client.post("/my-account/password", data={"csrf_token": token, "pw-current_password": PASSWORD,
                                              "pw-new_password": "a-new-long-passphrase",
                                              "pw-confirm_password": "a-new-long-passphrase"})
    db.session.expire_all()
    stored = db.session.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$v=19$") and "a-new-long-passphrase" not in stored
    # Outside the tests (which use cheap parameters) the hasher's defaults apply.
    from webapp.services.passwords import hash_password
    monkeypatch.delitem(app.config, "ARGON2_PARAMS")
    assert hash_password("a-new-long-passphrase").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_unknown_hosts_get_404_and_forwarded_host_is_ignored(client, db):
    assert client.get("/login", base_url="http://evil.example").status_code == 404
    assert client.get("/login", base_url="http://a.b.localhost").status_code == 404
    assert client.get("/login", base_url="http://ghost.localhost").status_code == 404
    response = client.get("/login", headers={"X-Forwarded-Host": "evil.example"})
    assert response.status_code == 200


MALFORMED_HOSTS = ["a" * 64 + ".localhost", "a..localhost", ".localhost", "localhost..", "caf\u00e9.localhost",
                   "localhost:abc", "localhost:99999", "localhost:", "[::1", "-acme.localhost", "", "a" * 300]


@pytest.mark.parametrize("host", MALFORMED_HOSTS)
def test_a_host_header_that_is_not_a_host_name_gets_a_plain_400(client, db, host):
    """Werkzeug cannot build URLs for a label over 63 characters or an empty one; no page may try."""
    agency, _ = make_agency(email="nora@agency.test")
    make_account(agency, "acme", admin_password="acme-secret-pass")
    for path in ("/login", "/healthz", "/app/login", "/", "/static/css/app.css", "/nowhere"):
        response = client.get(path, headers={"Host": host})
        assert response.status_code == 400, (host, path)
        assert response.mimetype == "text/plain"
        assert "not a valid host name" in response.get_data(as_text=True)
    # A POST is refused for its Host before its missing CSRF token is looked at.
    assert client.post("/login", headers={"Host": host}, data={"email": "nora@agency.test"}).status_code == 400
    api = client.get("/api/v1/accounts", headers={"Host": host})
    assert api.status_code == 400 and api.get_json()["error"]["code"] == "bad_request"


def test_error_pages_fall_back_to_plain_text_when_no_url_can_be_built(client, db, monkeypatch):
    from webapp.services import hosts
    monkeypatch.setattr(hosts, "is_valid_host", lambda host: True)  # as if the Host check missed one
    response = client.get("/login", headers={"Host": "a" * 64 + ".localhost"})
    assert response.status_code == 404 and response.mimetype == "text/plain"
    assert "Page not found" in response.get_data(as_text=True)


def test_host_names_with_ports_and_ip_literals_are_valid(client, db):
    from webapp.services.hosts import is_valid_host
    for host in ("localhost", "LOCALHOST:5000", "acme.localhost.", "a" * 63 + ".localhost", "10.1.2.3:8080",
                 "[::1]", "[::1]:443", "mail.acme-co.test"):
        assert is_valid_host(host), host
    assert client.get("/login", base_url="http://localhost:5000").status_code == 200
    assert client.get("/healthz", base_url="http://[::1]:8080").status_code == 200


def test_hosted_account_admin_logs_in_on_its_own_host_only(client, db):
    agency, _ = make_agency(email="nora@agency.test")
    acme = make_account(agency, "acme", admin_password="acme-secret-pass")
    other = make_account(agency, "other", admin_password="other-secret-pass")
    host = "http://acme.localhost"
    assert client.get("/", base_url=host).headers["Location"].endswith("/app/")
    page = client.get("/app/login", base_url=host)
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    bad = client.post("/app/login", base_url=host, data={"csrf_token": token, "username": "admin",
                                                          "password": "wrong-password"})
    assert bad.status_code == 401
    ok = client.post("/app/login", base_url=host, data={"csrf_token": token, "username": "admin",
                                                         "password": "acme-secret-pass"})
    assert ok.status_code == 303
    assert client.get("/app/", base_url=host).status_code == 200
    # The same session is nothing on another account's host or on the dashboard.
    assert client.get("/app/", base_url="http://other.localhost").status_code == 302
    assert client.get("/", base_url="http://localhost").status_code == 302
    # Dashboard pages do not exist on an account host, nor account pages on the dashboard.
    assert client.get("/my-account", base_url=host).status_code == 404
    assert client.get("/app/login", base_url="http://localhost").status_code == 404
    assert other.id != acme.id


def test_verified_custom_domain_selects_the_account_and_unverified_does_not(client, db):
    from datetime import datetime, timezone
    agency, _ = make_agency()
    make_account(agency, "acme", custom_domain="mail.acme.test", custom_domain_verified_at=datetime.now(timezone.utc))
    make_account(agency, "beta", custom_domain="mail.beta.test")
    assert client.get("/app/login", base_url="http://mail.acme.test").status_code == 200
    assert client.get("/app/login", base_url="http://mail.beta.test").status_code == 404


def test_dashboard_user_session_is_not_an_account_session(client, db):
    agency, _ = make_agency(email="nora@agency.test")
    make_account(agency, "acme", admin_password="acme-secret-pass")
    login(client, "nora@agency.test")
    # Cookies are per host; even a forged cross-host cookie does not make a dashboard user an admin.
    session_cookie = client.get_cookie("session")
    client.set_cookie("session", session_cookie.value, domain="acme.localhost")
    assert client.get("/app/", base_url="http://acme.localhost").status_code == 302


def test_french_is_offered_from_the_browser_language(client, db):
    page = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert "Se connecter" in page.get_data(as_text=True)


# ---- settings that change how requests are read: a second app built with them ------------------

def _app_with(app, config_class=None, **overrides):
    """Another app over the session's database and queue, built with other settings."""
    from webapp import create_app
    from webapp.config import TestConfig

    from .conftest import IsolatedClient
    other = create_app(config_class or TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                       SQLALCHEMY_ENGINE_OPTIONS=app.config["SQLALCHEMY_ENGINE_OPTIONS"],
                       REDIS_URL=app.config["REDIS_URL"], ARGON2_PARAMS=app.config["ARGON2_PARAMS"],
                       **overrides)
    other.test_client_class = IsolatedClient
    return other


def _dispose(other):
    from webapp.extensions import db as _db
    with other.app_context():
        _db.engine.dispose()


def test_behind_a_trusted_proxy_the_forwarded_host_selects_the_account(app, client, db):
    agency, _ = make_agency(email="nora@agency.test")
    make_account(agency, "acme", admin_password="acme-secret-pass")
    proxied = _app_with(app, TRUSTED_PROXIES=1)
    try:
        behind = proxied.test_client()
        page = behind.get("/app/login", headers={"X-Forwarded-Host": "acme.localhost", "X-Forwarded-Proto": "https"})
        assert page.status_code == 200 and 'class="h4 mb-1 brand-name">acme<' in page.get_data(as_text=True)
        # The proxy's own Host is the dashboard when it forwards none.
        assert behind.get("/app/login").status_code == 404
        assert behind.get("/login").status_code == 200
        # A forwarded value that is not a host name is refused like a bad Host.
        assert behind.get("/login", headers={"X-Forwarded-Host": "a..localhost"}).status_code == 400
    finally:
        _dispose(proxied)
    # Without a configured proxy the same header is nothing but a header.
    assert client.get("/app/login", headers={"X-Forwarded-Host": "acme.localhost"}).status_code == 404
    assert client.get("/login", headers={"X-Forwarded-Host": "acme.localhost"}).status_code == 200


def test_url_scheme_https_makes_cookies_secure_and_links_https(app, db, monkeypatch):
    from webapp.config import Config, from_environment
    settings = from_environment({"URL_SCHEME": "https"})
    assert settings["SESSION_COOKIE_SECURE"] is True and settings["REMEMBER_COOKIE_SECURE"] is True
    assert from_environment({"URL_SCHEME": "https", "SESSION_COOKIE_SECURE": "0"})["SESSION_COOKIE_SECURE"] is False
    agency, _ = make_agency(email="nora@agency.test")
    acme = make_account(agency, "acme")
    monkeypatch.setenv("URL_SCHEME", "https")  # read by create_app, as a deployment's would be
    secure = _app_with(app, Config, TESTING=True, SECRET_KEY="test-secret", EMBEDDED_WORKER=False, PUBLIC_PORT=None)
    try:
        browser = secure.test_client()
        page = browser.get("/login", base_url="https://localhost")
        response = browser.post("/login", base_url="https://localhost", data={
            "csrf_token": csrf_token(page.get_data(as_text=True)), "email": "nora@agency.test",
            "password": PASSWORD, "remember": "y"})
        assert response.status_code == 303
        cookies = {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}
        for name in ("session", "remember_token"):
            assert "; Secure" in cookies[name] and "HttpOnly" in cookies[name] and "SameSite=Lax" in cookies[name]
        assert browser.get("/", base_url="https://localhost").status_code == 200
        with secure.app_context():
            from webapp.services import hosts
            assert hosts.account_login_url(db.session.merge(acme)) == "https://acme.localhost/app/login"
    finally:
        _dispose(secure)
    # The test app (plain http) sets no Secure flag, so its cookies work on http://localhost.
    assert app.config["SESSION_COOKIE_SECURE"] is False


def _copy_session(source, target, domain="localhost"):
    """What someone who kept a copy of the cookie has: the same session cookie in another browser."""
    target.set_cookie("session", source.get_cookie("session", domain=domain).value, domain=domain)


def test_logging_out_ends_every_copy_of_the_session_cookie(app, client, db):
    from webapp.models import LoginSession
    make_agency(email="nora@agency.test")
    login(client, "nora@agency.test")
    copy = app.test_client()
    _copy_session(client, copy)
    assert copy.get("/").status_code == 200  # a copy works while the login stands
    laptop = app.test_client()
    login(laptop, "nora@agency.test")  # another login of the same person, elsewhere
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 2
    html = client.get("/").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_token(html)}).status_code == 303
    assert copy.get("/").status_code == 302  # the copy taken before is over too
    assert copy.get("/", headers={"HX-Request": "true"}).headers["HX-Redirect"].startswith("/login")
    assert laptop.get("/").status_code == 200  # the other login goes on
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 1


def test_a_login_lasts_at_most_its_lifetime_and_old_ones_are_cleared_at_the_next_login(app, client, db, monkeypatch):
    from datetime import timedelta

    from webapp.models import LoginSession, utcnow
    _, user = make_agency(email="nora@agency.test")
    login(client, "nora@agency.test")
    assert client.get("/").status_code == 200
    monkeypatch.setitem(app.config, "LOGIN_SESSION_LIFETIME", timedelta(days=30))
    db.session.execute(sa.update(LoginSession).values(created_at=utcnow() - timedelta(days=30, seconds=1)))
    db.session.commit()
    assert client.get("/").status_code == 302
    login(client, "nora@agency.test")
    assert client.get("/").status_code == 200
    ages = db.session.scalars(sa.select(LoginSession.created_at).where(LoginSession.user_id == user.id)).all()
    assert len(ages) == 1 and utcnow() - ages[0] < timedelta(minutes=1)  # the expired row went
    assert app.config["REMEMBER_COOKIE_DURATION"] == app.config["LOGIN_SESSION_LIFETIME"]


def test_a_cookie_from_before_server_side_logins_asks_for_a_new_login(app, client, db):
    _, user = make_agency(email="nora@agency.test")
    with client.session_transaction() as session:
        session["_user_id"] = f"u:{user.id}:{user.session_epoch}"  # the old form, with no login id
        session["_fresh"] = True
    assert client.get("/").status_code == 302
    with client.session_transaction() as session:
        session["_user_id"] = f"u:{user.id}:{user.session_epoch}:made-up"
    assert client.get("/").status_code == 302


def test_an_account_admin_logging_out_ends_every_copy_of_the_cookie(app, client, db):
    from webapp.models import LoginSession
    agency, _ = make_agency(email="nora@agency.test")
    make_account(agency, "acme", admin_password="acme-secret-pass")
    host = "http://acme.localhost"
    token = csrf_token(client.get("/app/login", base_url=host).get_data(as_text=True))
    assert client.post("/app/login", base_url=host, data={"csrf_token": token, "username": "admin",
                                                          "password": "acme-secret-pass"}).status_code == 303
    copy = app.test_client()
    _copy_session(client, copy, domain="acme.localhost")
    assert copy.get("/app/", base_url=host).status_code == 200
    owner = db.session.scalar(sa.select(LoginSession.account_user_id))
    assert owner is not None and db.session.scalar(sa.select(LoginSession.user_id)) is None
    html = client.get("/app/", base_url=host).get_data(as_text=True)
    assert client.post("/app/logout", base_url=host, data={"csrf_token": csrf_token(html)}).status_code == 303
    assert copy.get("/app/", base_url=host).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 0


def test_a_remembered_login_ends_at_logout_too(app, client, db):
    make_agency(email="nora@agency.test")
    page = client.get("/login")
    client.post("/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)), "email": "nora@agency.test",
                                "password": PASSWORD, "remember": "y"})
    remembered = client.get_cookie("remember_token")
    assert remembered is not None
    browser_reopened = app.test_client()  # the session cookie gone, the remember-me cookie kept
    browser_reopened.set_cookie("remember_token", remembered.value, domain="localhost")
    assert browser_reopened.get("/").status_code == 200
    html = client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(html)})
    kept_copy = app.test_client()
    kept_copy.set_cookie("remember_token", remembered.value, domain="localhost")
    assert kept_copy.get("/").status_code == 302


def test_chosen_passwords_are_long_not_common_and_rehashed_when_the_cost_rises(app, db, monkeypatch):
    """Issue 19 (ASVS 6.2): at least 12 characters, none of the 30 000 most leaked, argon2id hashed again
    at sign-in once the cost settings rise."""
    from webapp.services import passwords
    assert len(passwords.common_passwords()) >= 10_000
    assert "at least 12" in str(passwords.password_problem("short-pass1"))
    for common in ("starwars1234", "Password1234", "qwertyuiop12", "iloveyou1234"):
        problem = passwords.password_problem(common) or ""
        assert common.lower().rstrip("0123456789!.") in passwords.common_passwords() or common.lower() in \
            passwords.common_passwords(), common
        assert "too common" in str(problem), common
    assert passwords.password_problem("violet-harbour-lamp") is None
    _agency, user = make_agency(email="rehash@agency.test")
    old = user.password_hash
    monkeypatch.setitem(app.config, "ARGON2_PARAMS", (2, 2048, 1))  # the deployment raised the cost
    client = app.test_client()
    page = client.get("/login")
    assert client.post("/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                       "email": "rehash@agency.test", "password": PASSWORD}).status_code == 303
    db.session.refresh(user)
    assert user.password_hash != old and "t=2" in user.password_hash and "m=2048" in user.password_hash
