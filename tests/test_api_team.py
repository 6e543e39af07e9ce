"""The Agency API's Team (X1 over issue 19): members and invitations, invite, resend, withdraw, change a
role, remove a member, require two-factor sign-in, over the same service and permissions as the Team page
(Owners and Admins; Admins cannot touch Owners; the last Owner stays)."""
from __future__ import annotations

import sqlalchemy as sa

from webapp.models import ApiToken, AuditEvent, OutboundEmail, User, UserLink, utcnow
from webapp.services import api_tokens, links

from .helpers import make_agency, make_member
from .test_api import ACTOR, Api, error_of, new_token


def _count(db, model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _setup(client, db):
    agency, owner = make_agency(email="team-api@agency.test")
    return agency, owner, Api(client, new_token(owner))


def test_invite_list_resend_and_revoke(client, db):
    agency, owner, api = _setup(client, db)
    sent = api.post("/team/invites", json={"email": " New.Person@Example.test ", "role": "billing"})
    assert sent.status_code == 201, sent.json
    invite = sent.json
    assert invite["email"] == "new.person@example.test" and invite["role"] == "billing"
    assert invite["invited_by"] == owner.name  # the token's creator, as the dashboard names who is logged in
    assert _count(db, OutboundEmail, OutboundEmail.kind == "team_invite") == 1
    listed = api.get("/team/invites").json["data"]
    assert [i["id"] for i in listed] == [invite["id"]]
    again = api.post(f"/team/invites/{invite['id']}/resend")
    assert again.status_code == 200 and again.json["id"] != invite["id"] and again.json["role"] == "billing"
    assert [i["id"] for i in api.get("/team/invites").json["data"]] == [again.json["id"]]
    error_of(api.post(f"/team/invites/{invite['id']}/resend"), 409, "conflict")  # the old link was replaced
    gone = api.post(f"/team/invites/{again.json['id']}/revoke")
    assert gone.status_code == 200 and gone.json == {"id": again.json["id"], "email": "new.person@example.test",
                                                      "revoked": True}
    assert api.get("/team/invites").json["data"] == []
    error_of(api.post(f"/team/invites/{again.json['id']}/revoke"), 409)
    assert {"team_member_invited", "team_invite_revoked"} <= set(db.session.scalars(sa.select(AuditEvent.action)))


def test_bad_invitations_are_422s_naming_the_field(client, db):
    agency, owner, api = _setup(client, db)
    member = make_member(agency, "member")
    for payload, field in (({"email": "nope", "role": "member"}, "email"),
                           ({"email": member.email, "role": "member"}, "email"),
                           ({"email": "a@example.test", "role": "boss"}, "role"),
                           ({"email": "a@example.test"}, "role"),
                           ({"email": "a@example.test", "role": "member", "name": "A"}, "name")):
        error = error_of(api.post("/team/invites", json=payload), 422, "validation_failed")
        assert field in error["fields"], (payload, error)
    assert _count(db, UserLink) == 0


def test_members_roles_and_removal(client, db):
    agency, owner, api = _setup(client, db)
    member = make_member(agency, "member")
    member_token = new_token(member)
    listed = api.get("/team/members").json
    assert [m["id"] for m in listed["data"]] == [owner.id, member.id] and listed["require_2fa"] is False
    assert listed["data"][0]["role"] == "owner" and listed["data"][0]["two_factor"] is False
    changed = api.post(f"/team/members/{member.id}/role", json={"role": "admin"})
    assert changed.status_code == 200 and changed.json["role"] == "admin"
    error = error_of(api.post(f"/team/members/{member.id}/role", json={"role": "king"}), 422)
    assert "role" in error["fields"]
    error_of(api.post(f"/team/members/{owner.id}/role", json={"role": "admin"}), 409)  # the last Owner
    error_of(api.post(f"/team/members/{owner.id}/remove"), 409)
    removed = api.post(f"/team/members/{member.id}/remove")
    assert removed.status_code == 200 and removed.json == {"id": member.id, "email": member.email, "removed": True}
    assert _count(db, User, User.id == member.id) == 0
    assert _count(db, ApiToken, ApiToken.revoked_at.is_(None), ApiToken.token_hash ==
                  api_tokens.hash_token(member_token)) == 0  # their tokens end with them
    error_of(Api(api.client, member_token).get("/plans"), 401)


def test_an_admin_cannot_touch_an_owner_nor_make_one_and_a_member_cannot_change_the_team(client, db, app):
    agency, owner, api = _setup(client, db)
    admin = make_member(agency, "admin")
    other = make_member(agency, "member")
    admin_api = Api(app.test_client(), new_token(admin))
    error_of(admin_api.post(f"/team/members/{owner.id}/role", json={"role": "member"}), 403, "forbidden")
    error_of(admin_api.post(f"/team/members/{owner.id}/remove"), 403, "forbidden")
    error_of(admin_api.post(f"/team/members/{other.id}/role", json={"role": "owner"}), 403, "forbidden")
    error_of(admin_api.post("/team/invites", json={"email": "boss@example.test", "role": "owner"}), 403)
    assert admin_api.post(f"/team/members/{other.id}/role", json={"role": "billing"}).json["role"] == "billing"
    error_of(admin_api.post("/team/require-2fa", json={"require_2fa": True}), 403, "forbidden")  # Owner only
    member_api = Api(app.test_client(), new_token(make_member(agency, "member")))
    error_of(member_api.get("/team/members"), 403, "forbidden")
    error_of(member_api.post("/team/invites", json={"email": "x@example.test", "role": "member"}), 403)
    db.session.expire_all()
    assert db.session.get(User, owner.id).team_role == "owner"


def test_require_two_factor_needs_the_owners_own_first(client, db):
    agency, owner, api = _setup(client, db)
    error_of(api.post("/team/require-2fa", json={"require_2fa": True}), 409, "conflict")
    error_of(api.post("/team/require-2fa", json={"require_2fa": "yes"}), 422)
    owner = db.session.get(User, owner.id)
    owner.totp_secret, owner.totp_enabled_at = "JBSWY3DPEHPK3PXP", utcnow()
    db.session.commit()
    assert api.post("/team/require-2fa", json={"require_2fa": True}).json == {"require_2fa": True}
    assert api.get("/team/members").json["require_2fa"] is True
    assert api.post("/team/require-2fa", json={"require_2fa": False}).json == {"require_2fa": False}


def test_another_agencys_members_and_invitations_are_not_found(client, db):
    agency, owner, api = _setup(client, db)
    rival, rival_owner = make_agency("Rival", email="team-rival@agency.test")
    theirs = make_member(rival, "member")
    link, _raw = links.issue("invite", agency_id=rival.id, email="invited@rival.test", team_role="member")
    db.session.commit()
    error_of(api.post(f"/team/members/{theirs.id}/role", json={"role": "admin"}), 404, "not_found")
    error_of(api.post(f"/team/members/{theirs.id}/remove"), 404, "not_found")
    error_of(api.post(f"/team/invites/{link.id}/resend"), 404, "not_found")
    error_of(api.post(f"/team/invites/{link.id}/revoke"), 404, "not_found")
    assert rival_owner.id not in [m["id"] for m in api.get("/team/members").json["data"]]
    db.session.expire_all()
    assert db.session.get(User, theirs.id).team_role == "member"
    assert db.session.get(UserLink, link.id).revoked_at is None


def test_a_read_token_lists_but_changes_nothing(client, db, app):
    agency, owner, api = _setup(client, db)
    member = make_member(agency, "member")
    reader = Api(app.test_client(), api_tokens.create(owner, "reader", ACTOR, scope="read")[1])
    assert reader.get("/team/members").status_code == 200
    error_of(reader.post(f"/team/members/{member.id}/remove"), 403, "insufficient_scope")
    error_of(reader.post("/team/invites", json={"email": "r@example.test", "role": "member"}), 403,
             "insufficient_scope")
    assert db.session.get(User, member.id) is not None
