"""The API's abuse and bounce reports beyond the list in routes.py (S6, N3): one report, and acknowledging
it with the agency's reply, over services/reports.py as the dashboard's Reports pages."""
from __future__ import annotations

from flask import g, jsonify

from ..extensions import db
from ..models import HostedAccount, User
from ..services import reports, serializers
from .blueprint import bp
from .guard import permission_required
from .openapi import _get, _obj, _post, _ref, _text
from .routes import actor, body, query, scope

TWINS = {"reports.acknowledge": "api.acknowledge_report"}


def _report_json(report) -> dict:
    return serializers.report(report, db.session.get(HostedAccount, report.account_id).name)


@bp.get("/reports/<report_id>")
@permission_required("view")
def get_report(report_id):
    query("getReport")
    return jsonify(_report_json(reports.get(scope(), report_id, actor=actor())))


@bp.post("/reports/<report_id>/acknowledge")
@permission_required("manage_accounts")
def acknowledge_report(report_id):
    report = reports.get(scope(), report_id, actor=actor())  # another agency's: 404 before the body
    data = body("acknowledgeReport")
    # The reply is signed by the person whose token it is, as the dashboard signs it by who is logged in.
    user = db.session.get(User, g.api_token_user_id) if g.api_token_user_id else None
    report = reports.acknowledge(scope(), report.id, reply=data["reply"], user=user, actor=actor())
    return jsonify(_report_json(report))


def spec(catalog, languages) -> dict:
    return {
        "paths": {
            "/reports/{id}": {"get": _get("getReport", "One abuse or bounce report", _ref("Report"), by_id=True,
                                          tag="Reports")},
            "/reports/{id}/acknowledge": {"post": _post(
                "acknowledgeReport", "Acknowledge an open report with your reply", "ReportAcknowledgement", 200,
                _ref("Report"), tag="Reports",
                description="Support sees the reply in its queue. Only an open report can be acknowledged (409 "
                            "once it is acknowledged or closed).")},
        },
        "schemas": {
            "ReportAcknowledgement": _obj({"reply": {**_text(reports.MAX_REPLY), "description": (
                "What you did about it, for support; required, at most "
                f"{reports.MAX_REPLY:,} characters.")}}),
        },
        "tags": ["Reports"],
    }
