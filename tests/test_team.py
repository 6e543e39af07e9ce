"""Issue 19, teams: invitations and their acceptance, roles, removal, the last Owner, the Owner's switches."""
from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from webapp.models import ApiToken, AuditEvent, LoginSession, OutboundEmail, User, UserLink, utcnow
from webapp.services import api_tokens

from .helpers import PASSWORD, agency_actor, csrf_token, login, make_agency, make_member

NEW_PASSWORD = "a-long-new-team-password"


def _token(page_html: str) -> str:
    return csrf_token(page_html)


def _post(client, url: str, data: dict | None = None, page: str = "/team"):
    token = _token(client.get(page).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **(data or {})})


def _invite_link(db, email: str) -> str:
    body = db.session.scalar(sa.select(OutboundEmail.body_text).where(OutboundEmail.to_address == email)
                             .order_by(OutboundEmail.id.desc()))
    return re.search(r"http://localhost(/invite/\S+)", body).group(1)


def _accept(client, path: str, name: str = "Mia Member", password: str = NEW_PASSWORD, confirm: str | None = None):
    page = client.get(path)
    return client.post(path, data={"csrf_token": _token(page.get_data(as_text=True)), "name": name,
                                   "password": password, "confirm_password": confirm or password})


def test_invite_accept_and_the_members_menu_is_limited_to_its_role(app, client, db):
    agency, owner = make_agency("Northwind", email="owner@agency.test")
    login(client, "owner@agency.test")
    page = client.get("/team").get_data(as_text=True)
    assert "Team" in client.get("/").get_data(as_text=True)
    assert 'data-member="owner@agency.test"' in page
    sent = _post(client, "/team/invite", {"email": " Mia@Agency.test ", "role": "member"})
    assert sent.status_code == 303
    assert 'data-invite="mia@agency.test"' in client.get("/team").get_data(as_text=True)
    link = db.session.scalar(sa.select(UserLink).where(UserLink.purpose == "invite"))
    assert link.email == "mia@agency.test" and link.team_role == "member" and link.created_by_id == owner.id
    assert link.expires_at - utcnow() > timedelta(days=6, hours=23)
    path = _invite_link(db, "mia@agency.test")
    assert path.split("/")[-1] not in link.token_hash  # only the hash is kept
    client.post("/logout", data={"csrf_token": _token(page)})

    invited = client.get(path)
    html = invited.get_data(as_text=True)
    assert invited.status_code == 200 and "Northwind" in html and "Member" in html
    weak = _accept(client, path, password="short")
    assert weak.status_code == 422 and db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    joined = _accept(client, path)
    assert joined.status_code == 303 and joined.headers["Location"].startswith("/login")
    mia = db.session.scalar(sa.select(User).where(User.email == "mia@agency.test"))
    assert mia.team_role == "member" and mia.agency_id == agency.id and mia.email_confirmed_at is not None
    assert "team_invite_accepted" in set(db.session.scalars(sa.select(AuditEvent.action)))

    # A used link answers 410 with a clear page.
    again = client.get(path)
    assert again.status_code == 410 and "already accepted" in again.get_data(as_text=True)

    login(client, "mia@agency.test", NEW_PASSWORD)
    home = client.get("/").get_data(as_text=True)
    menu = home[home.index('id="side-menu"'):]
    assert "Billing profile" not in menu and "Billing history" not in menu and "Team" not in menu
    assert "Agency API" not in menu and "Account default settings" in menu and "My account" in menu
    assert client.get("/team").status_code == 403
    refused = client.get("/billing/profile")
    assert refused.status_code == 403 and "does not let you see or change billing" in refused.get_data(as_text=True)


def test_dead_links_signed_in_as_someone_else_and_a_taken_email(app, client, db):
    agency, owner = make_agency(email="owner@agency.test")
    make_agency("Other", email="taken@agency.test")
    login(client, "owner@agency.test")
    _post(client, "/team/invite", {"email": "new@agency.test", "role": "admin"})
    first = _invite_link(db, "new@agency.test")
    link = db.session.scalar(sa.select(UserLink).where(UserLink.purpose == "invite"))
    _post(client, f"/team/invites/{link.id}/resend")
    second = _invite_link(db, "new@agency.test")
    assert first != second

    # Signed in as the owner: a clear refusal, nothing written.
    refused = client.get(second)
    assert refused.status_code == 409 and "signed in as owner@agency.test" in refused.get_data(as_text=True)
    refused_post = client.post(second, data={"name": "X", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
                                             "csrf_token": _token(client.get("/team").get_data(as_text=True))})
    assert refused_post.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 2
    client.post("/logout", data={"csrf_token": _token(client.get("/team").get_data(as_text=True))})

    replaced = client.get(first)
    assert replaced.status_code == 410 and "replaced by a newer one" in replaced.get_data(as_text=True)
    assert client.get("/invite/not-a-token").status_code == 410

    # Someone took the address meanwhile: said by the field.
    db.session.execute(sa.update(User).where(User.email == "taken@agency.test").values(email="NEW@agency.test"))
    db.session.commit()
    taken = _accept(client, second)
    assert taken.status_code == 422 and "already signs in with new@agency.test" in taken.get_data(as_text=True)
    db.session.execute(sa.update(User).where(User.email == "NEW@agency.test").values(email="taken@agency.test"))
    db.session.commit()

    # Revoked, and expired.
    login(client, "owner@agency.test")
    link = db.session.scalar(sa.select(UserLink).where(UserLink.purpose == "invite", UserLink.revoked_at.is_(None)))
    assert _post(client, f"/team/invites/{link.id}/revoke").status_code == 303
    client.post("/logout", data={"csrf_token": _token(client.get("/team").get_data(as_text=True))})
    assert "withdrawn" in client.get(second).get_data(as_text=True)
    login(client, "owner@agency.test")
    _post(client, "/team/invite", {"email": "late@agency.test", "role": "member"})
    late = _invite_link(db, "late@agency.test")
    db.session.execute(sa.update(UserLink).where(UserLink.email == "late@agency.test")
                       .values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    client.post("/logout", data={"csrf_token": _token(client.get("/team").get_data(as_text=True))})
    expired = client.get(late)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)


def test_inviting_an_address_already_in_use_is_said_by_the_field(client, db):
    make_agency(email="owner@agency.test")
    make_agency("Other", email="someone@agency.test")
    login(client, "owner@agency.test")
    response = _post(client, "/team/invite", {"email": "SOMEONE@agency.test", "role": "member"})
    assert response.status_code == 422 and "already signs in with this e-mail" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserLink)) == 0


def test_the_last_owner_cannot_be_removed_or_demoted(client, db):
    agency, owner = make_agency(email="owner@agency.test")
    admin = make_member(agency, "admin")
    login(client, "owner@agency.test")
    demoted = _post(client, f"/team/members/{owner.id}/role", {f"member-{owner.id}-role": "admin"})
    assert demoted.status_code == 409 and "last Owner" in demoted.get_data(as_text=True)
    removed = _post(client, f"/team/members/{owner.id}/remove")
    assert removed.status_code == 409
    db.session.expire_all()
    assert db.session.get(User, owner.id).team_role == "owner"
    # With a second Owner, the first may step down.
    assert _post(client, f"/team/members/{admin.id}/role", {f"member-{admin.id}-role": "owner"}).status_code == 303
    assert _post(client, f"/team/members/{owner.id}/role", {f"member-{owner.id}-role": "member"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(User, owner.id).team_role == "member"
    actions = list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "team_role_changed")))
    assert [e.actor for e in actions] == [f"user:{owner.id}"] * 2


def test_an_admin_cannot_touch_an_owner_or_make_one(client, db):
    agency, owner = make_agency(email="owner@agency.test")
    make_member(agency, "admin", email="admin@agency.test")
    member = make_member(agency, "member")
    login(client, "admin@agency.test")
    response = _post(client, f"/team/members/{owner.id}/role", {f"member-{owner.id}-role": "member"})
    assert response.status_code == 403 and "Only an Owner can change or remove an Owner" in response.get_data(as_text=True)
    assert _post(client, f"/team/members/{owner.id}/remove").status_code == 403
    assert _post(client, f"/team/members/{member.id}/role", {f"member-{member.id}-role": "owner"}).status_code == 403
    assert _post(client, "/team/invite", {"email": "boss@agency.test", "role": "owner"}).status_code == 403
    assert _post(client, "/team/require-2fa", {"require_2fa": "y"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(User, owner.id).team_role == "owner" and db.session.get(User, member.id).team_role == "member"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserLink)) == 0
    # An Admin may change a Member.
    assert _post(client, f"/team/members/{member.id}/role", {f"member-{member.id}-role": "billing"}).status_code == 303


def test_removal_ends_the_members_logins_and_tokens_at_once(app, client, db):
    agency, owner = make_agency(email="owner@agency.test")
    admin = make_member(agency, "admin", email="admin@agency.test")
    _token_row, raw = api_tokens.create(admin, "CRM", agency_actor(admin))
    admin_id = admin.id
    other = app.test_client()
    login(other, "admin@agency.test")
    assert other.get("/").status_code == 200
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/plans", headers=headers).status_code == 200

    login(client, "owner@agency.test")
    assert _post(client, f"/team/members/{admin_id}/remove").status_code == 303
    assert other.get("/").status_code == 302  # back to the login page
    assert client.get("/api/v1/plans", headers=headers).status_code == 401
    db.session.expire_all()
    assert db.session.scalar(sa.select(User).where(User.id == admin_id)) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession).where(
        LoginSession.user_id == admin_id)) == 0
    token = db.session.scalar(sa.select(ApiToken))
    assert token.revoked_at is not None
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "team_member_removed"))
    assert event.actor == f"user:{owner.id}" and event.detail["email"] == "admin@agency.test"
    assert login(other, "admin@agency.test").status_code == 401


def test_owner_switches_two_factor_and_transfers_ownership(client, db):
    agency, owner = make_agency(email="owner@agency.test")
    admin = make_member(agency, "admin", email="admin@agency.test")
    login(client, "owner@agency.test")
    assert 'id="owner-settings"' in client.get("/team").get_data(as_text=True)
    # Not before the Owner has it: their own next page would be the enrolment.
    refused = _post(client, "/team/require-2fa", {"require_2fa": "y"})
    assert refused.status_code == 409 and "for yourself first" in refused.get_data(as_text=True)
    owner.totp_secret, owner.totp_enabled_at = "JBSWY3DPEHPK3PXP", utcnow()
    db.session.commit()
    assert _post(client, "/team/require-2fa", {"require_2fa": "y"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(type(agency), agency.id).require_2fa is True
    assert _post(client, "/team/transfer", {"user_id": str(admin.id)}).status_code == 303
    db.session.expire_all()
    assert db.session.get(User, admin.id).team_role == "owner" and db.session.get(User, owner.id).team_role == "admin"
    assert 'id="owner-settings"' not in client.get("/team").get_data(as_text=True)
    assert _post(client, "/team/require-2fa", {}).status_code == 403
    actions = [e.action for e in db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("team_%")))]
    assert actions == ["team_2fa_required", "team_ownership_transferred"]


def test_team_changes_ask_for_the_password_again_after_ten_minutes(client, db):
    agency, owner = make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    page = client.get("/team").get_data(as_text=True)
    db.session.execute(sa.update(LoginSession).values(authenticated_at=utcnow() - timedelta(minutes=11)))
    db.session.commit()
    response = client.post("/team/invite", data={"csrf_token": _token(page), "email": "x@agency.test", "role": "member"})
    assert response.status_code == 303 and "/reauth" in response.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserLink)) == 0


def test_another_agencys_member_is_not_found(client, db):
    make_agency(email="owner@agency.test")
    other, stranger = make_agency("Other", email="stranger@agency.test")
    login(client, "owner@agency.test")
    assert _post(client, f"/team/members/{stranger.id}/role", {f"member-{stranger.id}-role": "member"}).status_code == 404
    assert _post(client, f"/team/members/{stranger.id}/remove").status_code == 404
    db.session.expire_all()
    assert db.session.get(User, stranger.id) is not None


def test_accepting_keeps_the_password_rules_and_passes_no_password_back(client, db):
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    _post(client, "/team/invite", {"email": "bea@agency.test", "role": "billing"})
    path = _invite_link(db, "bea@agency.test")
    client.post("/logout", data={"csrf_token": _token(client.get("/team").get_data(as_text=True))})
    mismatch = _accept(client, path, confirm="another-long-password")
    assert mismatch.status_code == 422 and NEW_PASSWORD not in mismatch.get_data(as_text=True)
    common = _accept(client, path, password=PASSWORD.replace("-", "") and "password1234")
    assert common.status_code == 422
    assert _accept(client, path).status_code == 303
    assert db.session.scalar(sa.select(User.team_role).where(User.email == "bea@agency.test")) == "billing"
