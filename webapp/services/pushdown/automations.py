"""P1: automations in the parent account - checked, saved as numbered versions, described as text and
compared between versions (P6), deleted from the parent (its pushdowns stay).

A "send e-mail" step carries its message: the subject, the sender's name and a template of the parent
account, whose name and sanitized HTML are copied into the step when it is saved. The version holds the
message as it was then, so a publish copies it with the automation into every sub-account (P4), and a
template changed later reaches them only by a new save and push (P6)."""
from __future__ import annotations

import difflib
import hashlib
import html as html_lib
import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ...extensions import db
from ...models import Automation, AutomationVersion, EmailTemplate, utcnow
from ...models.automations import TRIGGER_KINDS
from .. import audit, permissions, templates
from ..errors import NotFound, ValidationFailed
from ..scope import parse_id
from ..validation import email_problem
from .franchise import parent_account, require_franchise


STEP_TYPES = ("send_email", "wait", "add_tag", "remove_tag", "condition", "notify")
MAX_STEPS = 50
# The messages of one version, in all: each is copied into every sub-account it is pushed to.
MAX_MESSAGE_CHARS = 500_000


# ---- P1: automations in the parent account ------------------------------------------------------

@dataclass
class AutomationInput:
    name: str
    trigger_kind: str
    trigger_value: str = ""
    steps: list[dict] = field(default_factory=list)


TRIGGER_FIELDS = {"subscribes": "list", "tag_added": "tag", "date_based": "field", "form_submitted": "form"}


def clean_steps(steps: list[dict], parent_templates: dict[int, EmailTemplate] | None = None
                ) -> tuple[list[dict], dict[str, str]]:
    """The steps as stored, and a problem per `steps-<i>-<field>`. A send-e-mail step's template is one of
    `parent_templates` (the parent account's, by id); its name and HTML are copied into the step."""
    cleaned, problems = [], {}
    parent_templates = parent_templates or {}
    if len(steps) > MAX_STEPS:
        problems["steps"] = str(_l("An automation has at most %(n)s steps.", n=MAX_STEPS))
        return [], problems
    message_chars = 0
    for i, raw in enumerate(steps):
        kind = raw.get("type")
        text = lambda key, n=120: " ".join(str(raw.get(key) or "").split())[:n]  # noqa: E731
        if kind == "send_email":
            step = {"type": kind, "subject": text("subject", 200), "from_name": text("from_name", 120)}
            if not step["subject"]:
                problems[f"steps-{i}-subject"] = str(_l("Give the e-mail a subject."))
            if not step["from_name"]:
                problems[f"steps-{i}-from_name"] = str(_l("Say whose name the e-mail is sent from."))
            template = _template_of(raw, parent_templates)
            if template is None:
                problems[f"steps-{i}-template_id"] = str(_l(
                    "Choose the template this e-mail sends (a template of the parent account)."))
            else:
                step.update(template_id=template.id, template_name=template.name,
                            html=templates.sanitize_html(template.html or ""))
                message_chars += len(step["html"])
        elif kind == "wait":
            unit = raw.get("unit") if raw.get("unit") in ("hours", "days") else "days"
            try:
                amount = int(str(raw.get("amount") or "").strip())
            except ValueError:
                amount = 0
            step = {"type": kind, "amount": amount, "unit": unit}
            if not 1 <= amount <= (24 * 365 if unit == "hours" else 365):
                problems[f"steps-{i}-amount"] = str(_l("Wait between 1 and 365 days (or the same in hours)."))
        elif kind in ("add_tag", "remove_tag"):
            step = {"type": kind, "tag": text("tag", 60)}
            if not step["tag"]:
                problems[f"steps-{i}-tag"] = str(_l("Name the tag."))
        elif kind == "condition":
            step = {"type": kind, "tag": text("tag", 60), "otherwise": "stop" if raw.get("otherwise") == "stop"
                    else "continue"}
            if not step["tag"]:
                problems[f"steps-{i}-tag"] = str(_l("Name the tag the condition checks."))
        elif kind == "notify":
            step = {"type": kind, "email": text("email", 254)}
            problem = email_problem(step["email"]) if step["email"] else str(_l("Enter the e-mail to notify."))
            if problem:
                problems[f"steps-{i}-email"] = str(problem)
        else:
            problems[f"steps-{i}-type"] = str(_l("Unknown step."))
            continue
        cleaned.append(step)
    if message_chars > MAX_MESSAGE_CHARS:
        problems["steps"] = str(_l("The e-mails of one automation hold at most %(n)s characters of HTML in all; "
                                   "choose shorter templates.", n=f"{MAX_MESSAGE_CHARS:,}"))
    return cleaned, problems


def message_changed(step: dict, parent_templates: dict[int, EmailTemplate]) -> bool:
    """A saved send-e-mail step whose template has changed (or gone) since: a new save would send something else."""
    if step.get("type") != "send_email" or "html" not in step:
        return False
    template = parent_templates.get(step.get("template_id"))
    return template is None or template.name != step.get("template_name") or \
        templates.sanitize_html(template.html or "") != step["html"]


def _template_of(raw: dict, parent_templates: dict[int, EmailTemplate]) -> EmailTemplate | None:
    try:
        return parent_templates.get(int(str(raw.get("template_id") or "").strip()))
    except ValueError:
        return None


def _checked_automation(data: AutomationInput, parent_templates: dict[int, EmailTemplate]
                        ) -> tuple[str, str, dict, list[dict]]:
    problems: dict[str, str] = {}
    name = " ".join((data.name or "").split())
    if not name:
        problems["name"] = str(_l("Give the automation a name."))
    elif len(name) > 120:
        problems["name"] = str(_l("The name is at most 120 characters."))
    if data.trigger_kind not in TRIGGER_KINDS:
        problems["trigger_kind"] = str(_l("Choose what starts the automation."))
    value = " ".join((data.trigger_value or "").split())[:120]
    if data.trigger_kind in TRIGGER_KINDS and not value:
        problems["trigger_value"] = str(_l("Say which list, tag, date field or form starts it."))
    steps, step_problems = clean_steps(data.steps, parent_templates)
    problems.update(step_problems)
    if not steps and not step_problems:
        problems["steps"] = str(_l("Add at least one step."))
    if problems:
        raise ValidationFailed(str(_l("The automation was not saved.")), problems)
    return name, data.trigger_kind, {TRIGGER_FIELDS[data.trigger_kind]: value}, steps


def parent_automations(agency_id: int, q: str = "") -> list[Automation]:
    parent = parent_account(agency_id)
    stmt = sa.select(Automation).where(Automation.account_id == parent.id, Automation.deleted_at.is_(None))
    q = (q or "").strip().lower()[:100]
    if q:
        stmt = stmt.where(sa.func.lower(Automation.name).contains(q, autoescape=True))
    return list(db.session.scalars(stmt.order_by(Automation.name, Automation.id)))


def parent_templates(agency_id: int) -> list[EmailTemplate]:
    """The parent account's templates: what a send-e-mail step may send."""
    return templates.account_templates(parent_account(agency_id))


def parent_automation(agency_id: int, automation_id) -> Automation:
    parent = parent_account(agency_id)
    row = db.session.scalar(sa.select(Automation).where(
        Automation.account_id == parent.id, Automation.id == parse_id(automation_id), Automation.deleted_at.is_(None)))
    if row is None:
        raise NotFound()
    return row


def version(automation: Automation, number: int | None = None) -> AutomationVersion | None:
    return db.session.scalar(sa.select(AutomationVersion).where(
        AutomationVersion.automation_id == automation.id,
        AutomationVersion.number == (number or automation.current_version)))


def save_automation(agency_id: int, automation_id, data: AutomationInput, actor: audit.Actor) -> Automation:
    """P1: create an automation, or save a new version of one (P6: no sub-account changes)."""
    permissions.require(actor, "library")
    require_franchise(agency_id)
    name, trigger_kind, trigger_config, steps = _checked_automation(
        data, {t.id: t for t in parent_templates(agency_id)})
    if automation_id:
        row = parent_automation(agency_id, automation_id)
        row.current_version += 1
        row.name = name
    else:
        row = Automation(account_id=parent_account(agency_id).id, name=name, current_version=1)
        db.session.add(row)
        db.session.flush()
    db.session.add(AutomationVersion(automation_id=row.id, number=row.current_version, name=name,
                                     trigger_kind=trigger_kind, trigger_config=trigger_config, steps=steps))
    audit.record(actor, "automation_saved", agency_id=agency_id,
                 **{"automation_id": row.id, "version": row.current_version})
    db.session.commit()
    return row


def delete_automation(agency_id: int, automation_id, actor: audit.Actor) -> Automation:
    """Deleted from the parent account: it can no longer be chosen nor pushed again, while its pushdowns
    stay on the Automations tab and the copies already pushed stay in the sub-accounts (P7)."""
    permissions.require(actor, "library")
    row = parent_automation(agency_id, automation_id)
    row.deleted_at = utcnow()
    audit.record(actor, "automation_deleted", agency_id=agency_id, account_id=row.account_id,
                 **{"automation_id": row.id, "name": row.name})
    db.session.commit()
    return row


def describe(v: AutomationVersion | None) -> list[str]:
    """A version as lines of text, for people and for the diff between two versions (P6)."""
    if v is None:
        return []
    lines = [str(_l("Name: %(name)s", name=v.name)),
             str(_l("Starts when: %(trigger)s %(value)s", trigger=TRIGGER_LABELS.get(v.trigger_kind, v.trigger_kind),
                    value=next(iter((v.trigger_config or {}).values()), "")))]
    for i, step in enumerate(v.steps or [], 1):
        lines.append(f"{i}. " + step_text(step))
        if step.get("type") == "send_email" and "html" in step:
            lines.append("   " + message_text(step))
    return lines


def message_excerpt(html: str, n: int = 160) -> str:
    """The words of a message's HTML, for a line of text."""
    words = " ".join(html_lib.unescape(re.sub(r"<[^>]*>", " ", html or "")).split())
    return words if len(words) <= n else words[:n - 1] + "…"


def message_text(step: dict) -> str:
    """A message as one line: any change to its HTML changes the line (its fingerprint), so the diff shows it."""
    html = step.get("html") or ""
    return str(_l("Message: %(excerpt)s (%(n)s characters of HTML, #%(digest)s)", excerpt=message_excerpt(html),
                  n=f"{len(html):,}", digest=hashlib.sha256(html.encode()).hexdigest()[:8]))


TRIGGER_LABELS = {"subscribes": _l("a contact subscribes to list"), "tag_added": _l("a tag is added:"),
                  "date_based": _l("a date is reached:"), "form_submitted": _l("a form is submitted:")}


def step_text(step: dict) -> str:
    kind = step.get("type")
    if kind == "send_email":
        if step.get("template_name") or step.get("from_name"):
            return str(_l("Send e-mail “%(subject)s” from “%(sender)s” with the template “%(template)s”",
                          subject=step.get("subject", ""), sender=step.get("from_name", ""),
                          template=step.get("template_name", "")))
        return str(_l("Send e-mail “%(subject)s”", subject=step.get("subject", "")))
    if kind == "wait":
        return str(_l("Wait %(n)s %(unit)s", n=step.get("amount"),
                      unit=_l("hours") if step.get("unit") == "hours" else _l("days")))
    if kind == "add_tag":
        return str(_l("Add tag “%(tag)s”", tag=step.get("tag", "")))
    if kind == "remove_tag":
        return str(_l("Remove tag “%(tag)s”", tag=step.get("tag", "")))
    if kind == "condition":
        return str(_l("If the contact has tag “%(tag)s” go on, otherwise %(otherwise)s", tag=step.get("tag", ""),
                      otherwise=_l("stop") if step.get("otherwise") == "stop" else _l("skip to the next step")))
    if kind == "notify":
        return str(_l("Notify %(email)s", email=step.get("email", "")))
    return kind or ""


def diff(automation: Automation, old_number: int | None, new_number: int | None = None) -> list[str]:
    """P6: what changed between the pushed version and the parent's current one (unified diff lines)."""
    old, new = version(automation, old_number), version(automation, new_number)
    return [line for line in difflib.unified_diff(describe(old), describe(new), lineterm="", n=1)
            if not line.startswith(("---", "+++", "@@"))]
