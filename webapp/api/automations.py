"""The API's pushdowns beyond routes.py (P2-P7, P9) and the parent account's automations (P1), over the
same services as the dashboard's Automations tab, its wizard and report, and its automation editor:
read one pushdown, edit or schedule a draft, delete a draft, push the parent's new version, retry the
failed copies, the report's figures; list, read, build, edit and delete the parent's automations.
Everything here is for franchise agencies (403 otherwise), with the `library` permission."""
from __future__ import annotations

import re

from flask import jsonify

from ..models import Pushdown
from ..models.automations import TRIGGER_KINDS
from ..services import pushdown, serializers
from ..services.errors import ValidationFailed
from ..services.scope import MAX_ID
from .blueprint import bp
from .guard import permission_required
from .openapi import _get, _nullable, _obj, _patch, _post, _ref, _schemas, _text
from .routes import _activation, _franchise_pushdown, _pushdown_json, actor, body, query, scope

TWINS = {
    "pushdown.new": "api.create_pushdown",  # then publishPushdown, or updatePushdown's schedule
    "pushdown.edit": "api.update_pushdown",
    "pushdown.delete": "api.delete_pushdown",
    "pushdown.switch": "api.activate_all",  # and api.deactivate_all: the one switch for all its sub-accounts
    "pushdown.update": "api.push_pushdown_update",
    "pushdown.retry": "api.retry_pushdown",
    "pushdown.editor": "api.create_automation",  # a new automation; api.update_automation saves a new version
}

_iso = serializers._iso


# ---- pushdowns -----------------------------------------------------------------------------------------

def pushdown_detail(row: Pushdown) -> dict:
    return {**_pushdown_json(row), "activate_timezone": row.activate_tz, "publish_at": _iso(row.publish_at),
            "publish_timezone": row.publish_tz}


@bp.get("/pushdowns/<pushdown_id>")
@permission_required("library")
def get_pushdown(pushdown_id):
    query("getPushdown")
    return jsonify(pushdown_detail(_franchise_pushdown(pushdown_id)))


@bp.patch("/pushdowns/<pushdown_id>")
@permission_required("library")
def update_pushdown(pushdown_id):
    """The wizard's "Save as draft" and "Schedule" on a draft or a scheduled pushdown: what is left out keeps
    its value, and a refusal writes nothing."""
    row = _franchise_pushdown(pushdown_id)
    data = body("updatePushdown")
    agency_id = scope().agency_id
    selection = pushdown.selection_of(agency_id, data.get("account_ids"), data.get("select_matching"))
    activation = _activation(data["activation"]) if "activation" in data else pushdown.activation_of(row)
    if "schedule" in data:
        when = data["schedule"]
        choice = "schedule" if when is not None else "draft"
        publish_when = (when["date"], when["time"], when["timezone"]) if when is not None else ("", "", "")
    else:
        choice = "schedule" if row.status == "scheduled" else "draft"
        publish_when = pushdown.schedule_of(row)
    row = pushdown.save_wizard(agency_id, row, [data.get("automation_id", row.automation_id)], selection, choice,
                               activation, publish_when, actor())
    return jsonify(pushdown_detail(row))


@bp.post("/pushdowns/<pushdown_id>/delete")
@permission_required("library")
def delete_pushdown(pushdown_id):
    row = _franchise_pushdown(pushdown_id)
    body("deletePushdown")
    row_id = row.id
    pushdown.delete_draft(row, actor())
    return jsonify({"id": row_id, "deleted": True})


def _published(row: Pushdown, op):
    return jsonify({"pushdown": _pushdown_json(row), "operation": serializers.operation(op, None)}), 202


@bp.post("/pushdowns/<pushdown_id>/update")
@permission_required("library")
def push_pushdown_update(pushdown_id):
    row = _franchise_pushdown(pushdown_id)
    body("pushPushdownUpdate")
    return _published(row, pushdown.push_update(row, actor()))


@bp.post("/pushdowns/<pushdown_id>/retry")
@permission_required("library")
def retry_pushdown(pushdown_id):
    row = _franchise_pushdown(pushdown_id)
    body("retryPushdown")
    return _published(row, pushdown.retry_failed(row, actor()))


@bp.get("/pushdowns/<pushdown_id>/report")
@permission_required("library")
def pushdown_report(pushdown_id):
    query("getPushdownReport")
    row = _franchise_pushdown(pushdown_id)
    figures = pushdown.summary(row)
    automation, op = figures["automation"], figures["operation"]
    return jsonify({
        "pushdown": pushdown_detail(row),
        "parent_version": automation.current_version if automation is not None else None,
        "parent_changed": figures["changed"], "changes": figures["changes"],
        "version_pushed_at": _iso(figures["pushed_at"]),
        "figures": {bar["state"]: bar["count"] for bar in figures["bars"]},
        "operation": serializers.operation(op, None) if op is not None else None,
    })


# ---- the parent account's automations -------------------------------------------------------------------

STEP_KEYS = ("type", "subject", "from_name", "template_id", "template_name", "html", "amount", "unit", "tag",
             "otherwise", "email")


def automation_json(row, *, steps: bool = True) -> dict:
    out = {"id": row.id, "name": row.name, "current_version": row.current_version,
           "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at)}
    if not steps:
        return out
    current = pushdown.version(row)
    templates = {t.id: t for t in pushdown.parent_templates(scope().agency_id)}
    out.update(trigger_kind=current.trigger_kind if current else None,
               trigger_value=next(iter((current.trigger_config or {}).values()), "") if current else "",
               steps=[{**{k: step[k] for k in STEP_KEYS if k in step},
                       **({"message_changed": pushdown.message_changed(step, templates)}
                          if step.get("type") == "send_email" else {})}
                      for step in (current.steps or [] if current else [])])
    return out


def _steps_field(name: str) -> str:
    """The service's `steps-<i>-<field>` (the editor's form fields) as the body's path, steps[i].field."""
    match = re.fullmatch(r"steps-(\d+)-(\w+)", name)
    return f"steps[{match.group(1)}].{match.group(2)}" if match else name


def _save(automation_id, data: dict):
    try:
        return pushdown.save_automation(scope().agency_id, automation_id, pushdown.AutomationInput(
            data["name"], data["trigger_kind"], data.get("trigger_value", ""), data["steps"]), actor())
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, {_steps_field(k): v for k, v in exc.fields.items()}) from None


def _parent_automation(automation_id):
    pushdown.require_franchise(scope().agency_id)
    return pushdown.parent_automation(scope().agency_id, automation_id)


@bp.get("/automations")
@permission_required("library")
def list_automations():
    params = query("listAutomations")
    pushdown.require_franchise(scope().agency_id)
    return jsonify({"data": [automation_json(row, steps=False)
                             for row in pushdown.parent_automations(scope().agency_id, params.get("q", ""))]})


@bp.get("/automations/templates")
@permission_required("library")
def list_automation_templates():
    query("listAutomationTemplates")
    pushdown.require_franchise(scope().agency_id)
    return jsonify({"data": [{"id": t.id, "name": t.name} for t in pushdown.parent_templates(scope().agency_id)]})


@bp.post("/automations")
@permission_required("library")
def create_automation():
    data = body("createAutomation")
    return jsonify(automation_json(_save(None, data))), 201


@bp.get("/automations/<automation_id>")
@permission_required("library")
def get_automation(automation_id):
    query("getAutomation")
    return jsonify(automation_json(_parent_automation(automation_id)))


@bp.patch("/automations/<automation_id>")
@permission_required("library")
def update_automation(automation_id):
    """A new version, as the editor's Save; a field left out keeps the current version's."""
    row = _parent_automation(automation_id)
    data = body("updateAutomation")
    current = pushdown.version(row)
    merged = {"name": row.name, "trigger_kind": current.trigger_kind if current else "",
              "trigger_value": next(iter((current.trigger_config or {}).values()), "") if current else "",
              "steps": list(current.steps or []) if current else [], **data}
    return jsonify(automation_json(_save(row.id, merged)))


@bp.post("/automations/<automation_id>/delete")
@permission_required("library")
def delete_automation(automation_id):
    row = _parent_automation(automation_id)
    body("deleteAutomation")
    pushdown.delete_automation(scope().agency_id, row.id, actor())
    return jsonify({"id": row.id, "deleted": True})


# ---- the document --------------------------------------------------------------------------------------

def spec(catalog, languages) -> dict:
    integer, string, dt = {"type": "integer"}, {"type": "string"}, {"type": "string", "format": "date-time"}
    core_pushdown = _schemas(catalog, languages)["Pushdown"]["properties"]
    ident = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    step_types = list(pushdown.STEP_TYPES)
    step_in = _obj({
        "type": {"type": "string", "enum": step_types},
        "subject": {**_text(200), "description": "send_email: the subject."},
        "from_name": {**_text(120), "description": "send_email: whose name it is sent from."},
        "template_id": {**ident, "description": "send_email: a template of the parent account (listAutomationTemplates)"
                                               "; its name and HTML are copied into the version."},
        "amount": {"type": "integer", "minimum": 1, "maximum": 24 * 365,
                   "description": "wait: 1 to 365 days, or the same in hours."},
        "unit": {"type": "string", "enum": ["days", "hours"], "description": "wait (days when left out)."},
        "tag": {**_text(60), "description": "add_tag, remove_tag, condition: the tag."},
        "otherwise": {"type": "string", "enum": ["continue", "stop"],
                      "description": "condition: when the contact lacks the tag (continue when left out)."},
        "email": {**_text(254), "description": "notify: who is told."},
    }, required=["type"], description="The fields of its type; the others are ignored.")
    step_out = _obj({
        "type": {"type": "string", "enum": step_types}, "subject": string, "from_name": string,
        "template_id": integer, "template_name": string,
        "html": {**string, "description": "send_email: the message as saved with this version (sanitized)."},
        "message_changed": {"type": "boolean", "description": "send_email: its template changed (or went) since; "
                                                              "saving again would send the new one."},
        "amount": integer, "unit": {"type": "string", "enum": ["days", "hours"]}, "tag": string,
        "otherwise": {"type": "string", "enum": ["continue", "stop"]}, "email": string,
    }, required=["type"])
    automation_fields = {
        "name": _text(120, 1),
        "trigger_kind": {"type": "string", "enum": list(TRIGGER_KINDS), "description": "What starts it."},
        "trigger_value": {**_text(120), "description": "Which list, tag, date field or form starts it."},
        "steps": {"type": "array", "maxItems": pushdown.MAX_STEPS, "items": _ref("AutomationStepInput")},
    }
    schedule = _obj({"date": {**_text(10), "description": "YYYY-MM-DD"}, "time": {**_text(5), "description": "HH:MM"},
                     "timezone": {**_text(64), "description": "An IANA time zone."}})
    summary = {"id": integer, "name": string, "current_version": integer, "created_at": dt, "updated_at": dt}
    published = _ref("PushdownPublished")
    franchise = "For franchise agencies (403 otherwise)."
    return {
        "paths": {
            "/pushdowns/{id}": {
                "get": _get("getPushdown", "One pushdown, with its schedule", _ref("AutomationPushdown"),
                            by_id=True, tag="Pushdowns", description=franchise),
                "patch": _patch(
                    "updatePushdown", "Edit a draft or scheduled pushdown; schedule or unschedule its publish",
                    "AutomationPushdownChange", _ref("AutomationPushdown"), tag="Pushdowns",
                    description="As the wizard's Save as draft and Schedule: what is left out keeps its value, and "
                                "a refusal writes nothing. A published pushdown cannot be edited (409)."),
            },
            "/pushdowns/{id}/delete": {"post": _post(
                "deletePushdown", "Delete a draft", "Empty", 200, _ref("AutomationDeleted"), body_required=False,
                tag="Pushdowns", description="Only a draft (409 otherwise); its automation stays in the parent "
                                             "account.")},
            "/pushdowns/{id}/update": {"post": _post(
                "pushPushdownUpdate", "Push the parent's current version to every chosen sub-account", "Empty", 202,
                published, body_required=False, tag="Pushdowns",
                description="When the parent's automation has changed since the push (parent_changed; 409 "
                            "otherwise). The copies are made in the background: follow the operation.")},
            "/pushdowns/{id}/retry": {"post": _post(
                "retryPushdown", "Try the failed copies again", "Empty", 202, published, body_required=False,
                tag="Pushdowns", description="Only the sub-accounts whose copy failed (409 when none did).")},
            "/pushdowns/{id}/report": {"get": _get(
                "getPushdownReport", "The report's figures: states, the parent's changes, the last publish",
                _ref("AutomationPushdownReport"), by_id=True, tag="Pushdowns",
                description="Each sub-account's row is in listPushdownAccounts.")},
            "/automations": {
                "get": _get("listAutomations", "The automations of the parent account, by name",
                            _ref("AutomationList"), tag="Automations", description=franchise,
                            params=[{"name": "q", "in": "query", "description": "Only names containing this.",
                                     "schema": _text(100)}]),
                "post": _post("createAutomation", "Build an automation in the parent account", "AutomationInput",
                              201, _ref("Automation"), by_id=False, tag="Automations",
                              description="Checked as the dashboard's editor checks it (a problem with a step is "
                                          "named steps[i].field). Sub-accounts get it only when it is pushed."),
            },
            "/automations/templates": {"get": _get(
                "listAutomationTemplates", "The parent account's templates: what a send_email step may send",
                _ref("AutomationTemplates"), tag="Automations")},
            "/automations/{id}": {
                "get": _get("getAutomation", "One automation of the parent account, its current version",
                            _ref("Automation"), by_id=True, tag="Automations"),
                "patch": _patch("updateAutomation", "Save a new version", "AutomationChange", _ref("Automation"),
                                tag="Automations",
                                description="A field left out keeps the current version's. No sub-account "
                                            "changes until the pushdown is updated (pushPushdownUpdate)."),
            },
            "/automations/{id}/delete": {"post": _post(
                "deleteAutomation", "Delete an automation from the parent account", "Empty", 200,
                _ref("AutomationDeleted"), body_required=False, tag="Automations",
                description="It can no longer be pushed; its pushdowns stay, and the sub-accounts keep the copies "
                            "already pushed.")},
        },
        "schemas": {
            "AutomationPushdown": _obj({
                **core_pushdown,
                "activate_timezone": {**_nullable(string), "description": "For activation_mode at."},
                "publish_at": {**_nullable(dt), "description": "When a scheduled pushdown is published."},
                "publish_timezone": _nullable(string),
            }),
            "AutomationPushdownChange": _obj({
                "automation_id": {**ident, "description": "Exactly one automation of the parent account."},
                "account_ids": {"type": "array", "maxItems": 500, "items": ident, "description": (
                    "The sub-accounts chosen, replacing the choice so far (left out: the choice stays). Each in "
                    "use: active, or cancelled until its period ends.")},
                "select_matching": {**_text(100), "description": "Also choose every sub-account in use whose name, "
                                                                 "client or e-mail contains this (\"\" for all)."},
                "activation": _ref("Activation"),
                "schedule": {**_nullable(_ref("AutomationSchedule")), "description": (
                    "When to publish it: it becomes scheduled. null: back to a draft. Left out: it stays as it "
                    "is.")},
            }, required=[]),
            "AutomationSchedule": schedule,
            "AutomationDeleted": _obj({"id": integer, "deleted": {"type": "boolean"}}),
            "AutomationPushdownReport": _obj({
                "pushdown": _ref("AutomationPushdown"),
                "parent_version": {**_nullable(integer), "description": "The parent automation's current version."},
                "parent_changed": {"type": "boolean"},
                "changes": {"type": "array", "items": string, "description": (
                    "When the parent changed: what changed since the version pushed, as diff lines (+ added, "
                    "- removed).")},
                "version_pushed_at": {**_nullable(dt), "description": "When the version the sub-accounts hold was "
                                                                      "pushed."},
                "figures": _obj({"active": integer, "inactive": integer, "pending": integer, "failed": integer,
                                 "deleted": {**integer, "description": "Copies deleted in the sub-account."}}),
                "operation": {**_nullable(_ref("Operation")), "description": "The last publish, update or retry."},
            }),
            "AutomationStepInput": step_in,
            "AutomationStep": step_out,
            "AutomationInput": _obj(automation_fields, required=["name", "trigger_kind", "steps"]),
            "AutomationChange": _obj(automation_fields, required=[]),
            "AutomationSummary": _obj(summary),
            "AutomationList": _obj({"data": {"type": "array", "items": _ref("AutomationSummary")}}),
            "Automation": _obj({**summary, "trigger_kind": _nullable(string), "trigger_value": string,
                                "steps": {"type": "array", "items": _ref("AutomationStep")}}),
            "AutomationTemplates": _obj({"data": {"type": "array", "items": _obj({"id": integer, "name": string})}}),
        },
        "tags": ["Pushdowns", "Automations"],
    }
