"""The API's Team (issue 19), over services/team.py as the dashboard's Team page: the members and the
pending invitations, inviting (a single-use link by e-mail, 7 days), resending and withdrawing an invitation,
changing a role, removing a member, and the Owner's switch that requires two-factor sign-in. The service
says who may do what: Owners and Admins change the team, Admins cannot change or remove Owners nor make
anyone an Owner, an agency always keeps one Owner. Handing the agency to another Owner stays on the Team
page (it asks for the password again; see parity.EXCEPTIONS)."""
from __future__ import annotations

from flask import jsonify

from ..extensions import db
from ..models import Agency, User
from ..services import permissions, serializers, team
from .blueprint import bp
from .guard import permission_required
from .openapi import _get, _nullable, _obj, _post, _ref, _text
from .routes import actor, body, query, scope

TWINS = {
    "team.invite": "api.invite_team_member",
    "team.resend": "api.resend_team_invite",
    "team.revoke": "api.revoke_team_invite",
    "team.change_role": "api.change_team_role",
    "team.remove": "api.remove_team_member",
    "team.require_2fa": "api.require_team_2fa",
}

_iso = serializers._iso


def member_json(user: User) -> dict:
    return {"id": user.id, "name": user.name, "email": user.email, "role": user.team_role,
            "two_factor": user.has_2fa, "created_at": _iso(user.created_at),
            "last_login_at": _iso(user.last_login_at)}


def invite_json(link) -> dict:
    inviter = db.session.get(User, link.created_by_id) if link.created_by_id else None
    return {"id": link.id, "email": link.email, "role": link.team_role, "created_at": _iso(link.created_at),
            "expires_at": _iso(link.expires_at), "invited_by": inviter.name if inviter is not None else None}


@bp.get("/team/members")
@permission_required("team")
def list_team_members():
    query("listTeamMembers")
    agency = db.session.get(Agency, scope().agency_id)
    return jsonify({"data": [member_json(m) for m in team.members(agency.id)], "require_2fa": agency.require_2fa})


@bp.get("/team/invites")
@permission_required("team")
def list_team_invites():
    query("listTeamInvites")
    return jsonify({"data": [invite_json(link) for link in team.pending_invites(scope().agency_id)]})


@bp.post("/team/invites")
@permission_required("team")
def invite_team_member():
    data = body("inviteTeamMember")
    return jsonify(invite_json(team.invite(actor(), email=data["email"], role=data["role"]))), 201


@bp.post("/team/invites/<link_id>/resend")
@permission_required("team")
def resend_team_invite(link_id):
    team.pending_invite(scope().agency_id, link_id)  # another agency's, or not pending: before the body
    body("resendTeamInvite")
    return jsonify(invite_json(team.resend(actor(), link_id)))


@bp.post("/team/invites/<link_id>/revoke")
@permission_required("team")
def revoke_team_invite(link_id):
    link = team.pending_invite(scope().agency_id, link_id)
    body("revokeTeamInvite")
    team.revoke_invite(actor(), link.id)
    return jsonify({"id": link.id, "email": link.email, "revoked": True})


@bp.post("/team/members/<user_id>/role")
@permission_required("team")
def change_team_role(user_id):
    member = team.member(scope().agency_id, user_id)
    data = body("changeTeamRole")
    return jsonify(member_json(team.change_role(actor(), member.id, data["role"])))


@bp.post("/team/members/<user_id>/remove")
@permission_required("team")
def remove_team_member(user_id):
    member = team.member(scope().agency_id, user_id)
    body("removeTeamMember")
    member_id, email = member.id, member.email
    team.remove(actor(), member_id)
    return jsonify({"id": member_id, "email": email, "removed": True})


@bp.post("/team/require-2fa")
@permission_required("owner")
def require_team_2fa():
    data = body("requireTeam2fa")
    return jsonify({"require_2fa": team.set_require_2fa(actor(), data["require_2fa"]).require_2fa})


def spec(catalog, languages) -> dict:
    integer, string, dt = {"type": "integer"}, {"type": "string"}, {"type": "string", "format": "date-time"}
    role = {"type": "string", "enum": list(permissions.ROLES), "description": (
        "owner: everything, and the Owner's switches; admin: everything but those, and not Owners; billing: "
        "the card, invoices and charges; member: accounts, templates and automations, without charging.")}
    invite = _obj({"id": integer, "email": string, "role": role, "created_at": dt,
                   "expires_at": {**dt, "description": "The link works until then (7 days)."},
                   "invited_by": {**_nullable(string), "description": "Who sent it; null once they left."}})
    return {
        "paths": {
            "/team/members": {"get": _get(
                "listTeamMembers", "The team: Owners first, then by name", _ref("TeamMembers"), tag="Team",
                description="For Owners and Admins, as the Team page.")},
            "/team/invites": {
                "get": _get("listTeamInvites", "The invitations not accepted, withdrawn or expired, newest first",
                            _ref("TeamInvites"), tag="Team"),
                "post": _post("inviteTeamMember", "Invite someone to the team", "TeamInvitation", 201,
                              _ref("TeamInvite"), by_id=False, tag="Team",
                              description="E-mails a single-use link (7 days) to join with the role. A new "
                                          "invitation to the same address replaces the one before. An Admin "
                                          "cannot invite an Owner (403)."),
            },
            "/team/invites/{id}/resend": {"post": _post(
                "resendTeamInvite", "Send a pending invitation again, with a new link", "Empty", 200,
                _ref("TeamInvite"), body_required=False, tag="Team",
                description="The earlier link stops working; the answer is the new invitation (a new id). 409 "
                            "when it was accepted or withdrawn.")},
            "/team/invites/{id}/revoke": {"post": _post(
                "revokeTeamInvite", "Withdraw a pending invitation", "Empty", 200, _ref("TeamInviteRevoked"),
                body_required=False, tag="Team", description="Its link stops working at once.")},
            "/team/members/{id}/role": {"post": _post(
                "changeTeamRole", "Change a member's role", "TeamRoleChange", 200, _ref("TeamMember"),
                tag="Team", description="An Admin cannot change an Owner nor make anyone an Owner (403); the last "
                                        "Owner cannot stop being one (409).")},
            "/team/members/{id}/remove": {"post": _post(
                "removeTeamMember", "Remove a member from the team", "Empty", 200, _ref("TeamMemberRemoved"),
                body_required=False, tag="Team",
                description="Their logins end at once and their API tokens are revoked (this one too, if it is "
                            "theirs). An Admin cannot remove an Owner (403); the last Owner stays (409).")},
            "/team/require-2fa": {"post": _post(
                "requireTeam2fa", "Require two-factor sign-in for the whole team (Owner only)", "TeamTwoFactor",
                200, _ref("TeamTwoFactor"), by_id=False, tag="Team",
                description="Members without it set it up at their next sign-in. The Owner whose token it is "
                            "turns it on for themselves first (409 otherwise).")},
        },
        "schemas": {
            "TeamMember": _obj({"id": integer, "name": string, "email": string, "role": role,
                                "two_factor": {"type": "boolean", "description": "Signs in with a code."},
                                "created_at": dt, "last_login_at": _nullable(dt)}),
            "TeamMembers": _obj({"data": {"type": "array", "items": _ref("TeamMember")},
                                 "require_2fa": {"type": "boolean"}}),
            "TeamInvite": invite,
            "TeamInvites": _obj({"data": {"type": "array", "items": _ref("TeamInvite")}}),
            "TeamInvitation": _obj({"email": _text(254, 1), "role": role}),
            "TeamInviteRevoked": _obj({"id": integer, "email": string, "revoked": {"type": "boolean"}}),
            "TeamRoleChange": _obj({"role": role}),
            "TeamMemberRemoved": _obj({"id": integer, "email": string, "removed": {"type": "boolean"}}),
            "TeamTwoFactor": _obj({"require_2fa": {"type": "boolean"}}),
        },
        "tags": ["Team"],
    }
