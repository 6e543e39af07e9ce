"""Pushdown automations (P1-P10): automations built in the agency's parent account, pushed one
at a time into chosen sub-accounts by a background operation, switched on and off for all of them
at once. The rules live here, shared by the dashboard, the API and the jobs.

A pushdown's chosen sub-accounts are its PushdownCopy rows (unique per pushdown and account). A
publish copies the automation's version of that moment into each pending copy, a batch per
transaction: a worker killed mid-batch loses the batch's uncommitted work, and the next worker
redoes exactly that batch, so no sub-account ever gets two copies."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ... import faults
from ...extensions import db
from ...models import Agency, Automation, AutomationVersion, HostedAccount, Pushdown, PushdownCopy, User, utcnow
from ...models.automations import TRIGGER_KINDS
from .. import audit, keys, operations
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..scope import AgencyScope, parse_id
from ..validation import email_problem

STEP_TYPES = ("send_email", "wait", "add_tag", "remove_tag", "condition", "notify")
MAX_STEPS = 50
BATCH = 1000
ELIGIBLE_STATUSES = ("active",)


def _fail(field_name: str, message) -> ValidationFailed:
    return ValidationFailed(str(message), {field_name: str(message)})


# ---- P10: only for franchise partners ---------------------------------------------------------

def require_franchise(agency_id: int) -> Agency:
    agency = db.session.get(Agency, agency_id)
    if agency is None or not agency.franchise_enabled:
        raise Forbidden(str(_l("Pushdown automations are for franchise partners. Ask support to switch them on.")))
    return agency


def set_franchise(agency_id: int, enabled: bool, actor: audit.Actor) -> Agency:
    """Support staff switch pushdown on or off for an agency."""
    agency = db.session.get(Agency, parse_id(agency_id))
    if agency is None:
        raise NotFound()
    if agency.franchise_enabled != enabled:
        agency.franchise_enabled = enabled
        audit.record(actor, "franchise_enabled" if enabled else "franchise_disabled", agency_id=agency.id)
        db.session.commit()
    return agency


def parent_account(agency_id: int) -> HostedAccount:
    """The agency's own hosted account (P1), made the first time it is needed."""
    scope = AgencyScope(agency_id)
    parent = db.session.scalar(scope.accounts().where(HostedAccount.kind == "parent"))
    if parent is None:
        agency = db.session.get(Agency, agency_id)
        base = re.sub(r"[^a-z0-9-]", "", (agency.referral_code or f"agency{agency_id}").lower())[:40] or "agency"
        parent = HostedAccount(agency_id=agency_id, kind="parent", name=f"{base}-hq-{agency_id}", status="active",
                               plan_tier="plus", plan_term="monthly", contact_limit=1000,
                               client_name=agency.name, client_email=f"parent-{agency_id}@invalid.test",
                               notification_email=f"parent-{agency_id}@invalid.test")
        db.session.add(parent)
        db.session.flush()
    return parent


# ---- P1: automations in the parent account ------------------------------------------------------

@dataclass
class AutomationInput:
    name: str
    trigger_kind: str
    trigger_value: str = ""
    steps: list[dict] = field(default_factory=list)


TRIGGER_FIELDS = {"subscribes": "list", "tag_added": "tag", "date_based": "field", "form_submitted": "form"}


def clean_steps(steps: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """The steps as stored, and a problem per `steps-<i>-<field>`."""
    cleaned, problems = [], {}
    if len(steps) > MAX_STEPS:
        problems["steps"] = str(_l("An automation has at most %(n)s steps.", n=MAX_STEPS))
        return [], problems
    for i, raw in enumerate(steps):
        kind = raw.get("type")
        text = lambda key, n=120: " ".join(str(raw.get(key) or "").split())[:n]  # noqa: E731
        if kind == "send_email":
            step = {"type": kind, "subject": text("subject", 200)}
            if not step["subject"]:
                problems[f"steps-{i}-subject"] = str(_l("Give the e-mail a subject."))
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
    return cleaned, problems


def _checked_automation(data: AutomationInput) -> tuple[str, str, dict, list[dict]]:
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
    steps, step_problems = clean_steps(data.steps)
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
    require_franchise(agency_id)
    name, trigger_kind, trigger_config, steps = _checked_automation(data)
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


def describe(v: AutomationVersion | None) -> list[str]:
    """A version as lines of text, for people and for the diff between two versions (P6)."""
    if v is None:
        return []
    lines = [str(_l("Name: %(name)s", name=v.name)),
             str(_l("Starts when: %(trigger)s %(value)s", trigger=TRIGGER_LABELS.get(v.trigger_kind, v.trigger_kind),
                    value=next(iter((v.trigger_config or {}).values()), "")))]
    for i, step in enumerate(v.steps or [], 1):
        lines.append(f"{i}. " + step_text(step))
    return lines


TRIGGER_LABELS = {"subscribes": _l("a contact subscribes to list"), "tag_added": _l("a tag is added:"),
                  "date_based": _l("a date is reached:"), "form_submitted": _l("a form is submitted:")}


def step_text(step: dict) -> str:
    kind = step.get("type")
    if kind == "send_email":
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


# ---- P2/P3: pushdowns, the wizard ---------------------------------------------------------------

def pushdown(agency_id: int, pushdown_id) -> Pushdown:
    return AgencyScope(agency_id).get(Pushdown, pushdown_id)


def create_draft(agency_id: int, automation_ids: list, actor: audit.Actor) -> Pushdown:
    """P3 step 1: exactly one automation of the parent account."""
    require_franchise(agency_id)
    ids = [a for a in automation_ids if str(a).strip()]
    if len(ids) != 1:
        raise _fail("automation_id", _l("Choose exactly one automation: a pushdown pushes one automation."))
    automation = parent_automation(agency_id, ids[0])
    user_id = int(actor.ref.split(":")[1]) if actor.ref.startswith("user:") else None
    row = Pushdown(agency_id=agency_id, automation_id=automation.id, status="draft",
                   created_by_id=user_id if user_id and db.session.get(User, user_id) else None)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "pushdown_created", agency_id=agency_id, **{"pushdown_id": row.id})
    db.session.commit()
    return row


def _editable(row: Pushdown) -> None:
    if row.status == "published":
        raise Conflict(str(_l("This pushdown is published: it cannot be edited. Use “Push update” or a new pushdown.")))


def change_automation(row: Pushdown, automation_ids: list) -> Pushdown:
    _editable(row)
    ids = [a for a in automation_ids if str(a).strip()]
    if len(ids) != 1:
        raise _fail("automation_id", _l("Choose exactly one automation: a pushdown pushes one automation."))
    row.automation_id = parent_automation(row.agency_id, ids[0]).id
    db.session.commit()
    return row


def _eligible(agency_id: int):
    return AgencyScope(agency_id).accounts().where(HostedAccount.kind == "resold",
                                                   HostedAccount.status.in_(ELIGIBLE_STATUSES))


def _matching(agency_id: int, q: str):
    stmt = _eligible(agency_id)
    q = (q or "").strip().lower()[:100]
    if q:
        stmt = stmt.where(HostedAccount.search_text.contains(q, autoescape=True))
    return stmt


def candidates(row: Pushdown, q: str, limit: int = 50) -> tuple[list[tuple[HostedAccount, bool]], int]:
    """P3 step 2: accounts matching `q` (first `limit`), each with whether it is selected; and how
    many match in all."""
    stmt = _matching(row.agency_id, q)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    accounts = db.session.scalars(stmt.order_by(HostedAccount.name).limit(limit)).all()
    chosen = set(db.session.scalars(sa.select(PushdownCopy.account_id).where(
        PushdownCopy.pushdown_id == row.id, PushdownCopy.account_id.in_([a.id for a in accounts]))))
    return [(a, a.id in chosen) for a in accounts], total


def selected_count(row: Pushdown) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(PushdownCopy)
                             .where(PushdownCopy.pushdown_id == row.id))


def select(row: Pushdown, account_ids: list) -> int:
    """Adds accounts by id. Another agency's account is not found (nothing written); one that is
    not active cannot be chosen."""
    _editable(row)
    ids = {parse_id(a) for a in account_ids}
    if not ids:
        return selected_count(row)
    found = set(db.session.scalars(AgencyScope(row.agency_id).accounts()
                                   .with_only_columns(HostedAccount.id).where(HostedAccount.id.in_(ids))))
    if found != ids:
        raise NotFound()
    eligible = set(db.session.scalars(_eligible(row.agency_id).with_only_columns(HostedAccount.id)
                                      .where(HostedAccount.id.in_(ids))))
    if eligible != ids:
        raise _fail("accounts", _l("Only active sub-accounts can get a pushdown."))
    _insert_copies(row, sa.select(HostedAccount.id).where(HostedAccount.id.in_(ids)))
    db.session.commit()
    return selected_count(row)


def select_matching(row: Pushdown, q: str) -> int:
    """"Select all matching": one INSERT ... SELECT, however many accounts match."""
    _editable(row)
    _insert_copies(row, _matching(row.agency_id, q).with_only_columns(HostedAccount.id))
    db.session.commit()
    return selected_count(row)


def _insert_copies(row: Pushdown, account_ids_select) -> None:
    already = sa.select(PushdownCopy.id).where(PushdownCopy.pushdown_id == row.id,
                                                PushdownCopy.account_id == HostedAccount.id).exists()
    source = account_ids_select.add_columns(sa.literal(row.id), sa.literal("pending"), sa.literal(utcnow(),
                                            PushdownCopy.__table__.c.updated_at.type)).where(~already)
    db.session.execute(sa.insert(PushdownCopy).from_select(
        ["account_id", "pushdown_id", "status", "updated_at"], source))


def unselect(row: Pushdown, account_ids: list | None) -> int:
    """Removes accounts by id, or all of them (None)."""
    _editable(row)
    stmt = sa.delete(PushdownCopy).where(PushdownCopy.pushdown_id == row.id)
    if account_ids is not None:
        stmt = stmt.where(PushdownCopy.account_id.in_({parse_id(a) for a in account_ids}))
    db.session.execute(stmt)
    db.session.commit()
    return selected_count(row)


def local_instant(day: str, at: str, tz_name: str, field_prefix: str) -> datetime:
    """A date, time and zone as typed → an aware UTC datetime; refuses unknown zones, times that do
    not exist (the hour skipped when clocks go forward) and the past."""
    tz_name = (tz_name or "").strip()
    if tz_name not in _zones():
        raise _fail(f"{field_prefix}_tz", _l("Unknown time zone."))
    try:
        local = datetime.combine(date.fromisoformat((day or "").strip()), time.fromisoformat((at or "").strip()))
    except ValueError:
        raise _fail(f"{field_prefix}_date", _l("Enter a date and a time.")) from None
    zone = ZoneInfo(tz_name)
    instant = local.replace(tzinfo=zone).astimezone(timezone.utc)
    if instant.astimezone(zone).replace(tzinfo=None) != local:
        raise _fail(f"{field_prefix}_time", _l("That time does not exist in %(tz)s (the clocks change).", tz=tz_name))
    if instant <= utcnow():
        raise _fail(f"{field_prefix}_date", _l("Choose a moment in the future."))
    return instant


_ZONES: set[str] | None = None


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = set(available_timezones()) | {"UTC"}
    return _ZONES


@dataclass
class ActivationInput:
    mode: str = "none"  # none | at | on_push
    day: str = ""
    at: str = ""
    tz: str = ""


def set_activation(row: Pushdown, data: ActivationInput) -> Pushdown:
    _editable(row)
    if data.mode not in ("none", "at", "on_push"):
        raise _fail("activation", _l("Choose when the automation becomes active."))
    row.activation_mode = data.mode
    if data.mode == "at":
        row.activate_at = local_instant(data.day, data.at, data.tz, "activate")
        row.activate_tz = data.tz.strip()
    else:
        row.activate_at, row.activate_tz = None, None
    db.session.commit()
    return row


def save_draft(row: Pushdown, activation: ActivationInput, actor: audit.Actor) -> Pushdown:
    """"Save as draft": keeps the choices; a scheduled pushdown goes back to draft."""
    set_activation(row, activation)
    row.status, row.publish_at, row.publish_tz = "draft", None, None
    db.session.commit()
    return row


def schedule(row: Pushdown, activation: ActivationInput, day: str, at: str, tz: str, actor: audit.Actor) -> Pushdown:
    """P3 "Schedule": published by the sweeper at that instant."""
    _editable(row)
    _need_accounts(row)
    publish_at = local_instant(day, at, tz, "publish")
    set_activation(row, activation)
    if row.activation_mode == "at" and row.activate_at < publish_at:
        raise _fail("activate_date", _l("The activation cannot come before the publish."))
    row.status, row.publish_at, row.publish_tz = "scheduled", publish_at, tz.strip()
    audit.record(actor, "pushdown_scheduled", agency_id=row.agency_id, **{"pushdown_id": row.id})
    db.session.commit()
    return row


def _need_accounts(row: Pushdown) -> None:
    if not selected_count(row):
        raise _fail("accounts", _l("Select at least one sub-account."))


def publish(row: Pushdown, activation: ActivationInput | None, actor: audit.Actor):
    """P3 "Publish now" (and the sweeper, for a scheduled one): the copies are made in the background."""
    _editable(row)
    _need_accounts(row)
    if activation is not None:
        set_activation(row, activation)
    automation = db.session.get(Automation, row.automation_id)
    if automation is None or automation.deleted_at is not None:
        raise _fail("automation_id", _l("The automation is no longer in the parent account."))
    row.status, row.published_at, row.version_number = "published", utcnow(), automation.current_version
    audit.record(actor, "pushdown_published", agency_id=row.agency_id,
                 **{"pushdown_id": row.id, "version": row.version_number})
    return _submit_publish(row)


def push_update(row: Pushdown, actor: audit.Actor):
    """P6 (beyond): the parent's current version into every chosen sub-account."""
    if row.status != "published":
        raise Conflict(str(_l("Only a published pushdown can be updated.")))
    automation = db.session.get(Automation, row.automation_id)
    if automation is None or automation.deleted_at is not None:
        raise Conflict(str(_l("The automation is no longer in the parent account.")))
    if automation.current_version == row.version_number:
        raise Conflict(str(_l("The sub-accounts already have the parent's current version.")))
    row.version_number = automation.current_version
    db.session.execute(sa.update(PushdownCopy).where(PushdownCopy.pushdown_id == row.id)
                       .values(status="pending", error=None, updated_at=utcnow()))
    audit.record(actor, "pushdown_updated", agency_id=row.agency_id,
                 **{"pushdown_id": row.id, "version": row.version_number})
    return _submit_publish(row)


def retry_failed(row: Pushdown, actor: audit.Actor):
    """(beyond) Only the sub-accounts whose copy failed are tried again."""
    if row.status != "published":
        raise Conflict(str(_l("Only a published pushdown has copies to retry.")))
    failed = db.session.execute(sa.update(PushdownCopy).where(PushdownCopy.pushdown_id == row.id,
                                                              PushdownCopy.status == "failed")
                                .values(status="pending", error=None, updated_at=utcnow())).rowcount
    if not failed:
        raise Conflict(str(_l("No copy of this pushdown failed.")))
    audit.record(actor, "pushdown_retried", agency_id=row.agency_id, **{"pushdown_id": row.id, "copies": failed})
    return _submit_publish(row)


def _submit_publish(row: Pushdown):
    row.publish_count += 1
    op = operations.submit("publish_pushdown", key=keys.pushdown_publish(row.id, row.publish_count),
                           agency_id=row.agency_id, subject=("pushdown", row.id),
                           params={"pushdown_id": row.id}, total=max(1, selected_count(row)))
    db.session.commit()
    operations.enqueue(op)
    return op


def last_operation(row: Pushdown):
    from ...models import Operation
    return db.session.scalar(sa.select(Operation).where(Operation.subject_type == "pushdown",
                                                        Operation.subject_id == row.id)
                             .order_by(Operation.id.desc()))


def delete_draft(row: Pushdown, actor: audit.Actor) -> None:
    """P7: a draft goes; its automation stays in the parent account."""
    if row.status != "draft":
        raise Conflict(str(_l("Only a draft can be deleted.")))
    db.session.execute(sa.delete(PushdownCopy).where(PushdownCopy.pushdown_id == row.id))
    db.session.delete(row)
    audit.record(actor, "pushdown_deleted", agency_id=row.agency_id, **{"pushdown_id": row.id})
    db.session.commit()


# ---- P4: the publish operation --------------------------------------------------------------------

def publish_operation(ctx: operations.OperationContext):
    """The publish_pushdown operation: copies the automation into every selected sub-account once."""
    row = db.session.get(Pushdown, ctx.params["pushdown_id"])
    if row is None:
        return {"copied": 0}
    automation = db.session.get(Automation, row.automation_id)
    v = version(automation, row.version_number)
    pending = sa.select(sa.func.count()).select_from(PushdownCopy).where(
        PushdownCopy.pushdown_id == row.id, PushdownCopy.status == "pending")
    ctx.progress(max(0, ctx.operation.total - db.session.scalar(pending)), message="Copying")
    copied = failed = 0
    while True:
        # The lowest BATCH pending copies, as an id range: every statement below works on exactly them.
        ids = db.session.scalars(sa.select(PushdownCopy.id).where(
            PushdownCopy.pushdown_id == row.id, PushdownCopy.status == "pending")
            .order_by(PushdownCopy.id).limit(BATCH)).all()
        if not ids:
            break
        c, f = _copy_batch(row, v, ids[0], ids[-1])
        copied, failed = copied + c, failed + f
        faults.point("pushdown.before_batch_commit")
        db.session.commit()
        faults.point("pushdown.after_batch_commit")
        ctx.progress(min(ctx.operation.total, ctx.operation.progress + len(ids)))
    if row.activation_mode == "on_push" and not row.active:
        _switch(row, True)
    db.session.commit()
    return {"copied": copied, "failed": failed, "version": row.version_number}


def _value(value, type_):
    """A bound value in a SELECT list, typed for PostgreSQL (which infers nothing there)."""
    bound = sa.literal(value, type_)
    return sa.cast(bound, type_) if db.session.get_bind().dialect.name == "postgresql" else bound


NOT_ELIGIBLE = ("provisioning", "cancelled", "disabled", "expired")


def _copy_batch(row: Pushdown, v: AutomationVersion, lo: int, hi: int) -> tuple[int, int]:
    """One batch, set-based: a few INSERT ... SELECT and UPDATE statements, whatever its size."""
    # The pushdown row is locked for the batch: a switch (P5) waits for it, or it waits for the switch,
    # so new copies always take the switch's current position.
    active = db.session.execute(sa.select(Pushdown.active).where(Pushdown.id == row.id).with_for_update()).scalar_one()
    now = utcnow()
    C, A, H, V = (PushdownCopy.__table__, Automation.__table__, HostedAccount.__table__,
                  AutomationVersion.__table__)
    in_batch = sa.and_(C.c.pushdown_id == row.id, C.c.status == "pending", C.c.id.between(lo, hi))
    failed = db.session.execute(sa.update(C).where(in_batch, ~sa.select(H.c.id).where(
        H.c.id == C.c.account_id, H.c.agency_id == row.agency_id).exists()).values(
        status="failed", error="The account is no longer one of the agency's.", updated_at=now)).rowcount
    for status in NOT_ELIGIBLE:
        failed += db.session.execute(sa.update(C).where(in_batch, sa.select(H.c.id).where(
            H.c.id == C.c.account_id, H.c.status == status).exists()).values(
            status="failed", error=f"The account is {status}.", updated_at=now)).rowcount
    # The batch's accounts and the copies they already hold (a re-push), as plain lists: statements
    # that join on them would let a planner with stale statistics scan the table once per row.
    accounts = db.session.scalars(sa.select(C.c.account_id).where(in_batch)).all()
    held = dict(db.session.execute(sa.select(A.c.account_id, A.c.id).where(
        A.c.source_pushdown_id == row.id, A.c.account_id.in_(accounts))).all()) if accounts else {}
    ours = sa.and_(A.c.source_pushdown_id == row.id, A.c.id.in_(list(held.values())))
    if held:  # re-pushed (an update, a retry): the copy the account holds takes the new version
        db.session.execute(sa.update(A).where(ours, sa.or_(
            A.c.current_version != v.number, A.c.deleted_at.is_not(None), A.c.active != active)).values(
            name=v.name, current_version=v.number, active=active, deleted_at=None, updated_at=now))
    when = _value(now, A.c.created_at.type)
    new_source = sa.select(C.c.account_id, _value(v.name, A.c.name.type), _value(active, A.c.active.type),
                           _value(v.number, A.c.current_version.type), _value(row.id, A.c.source_pushdown_id.type),
                           when, when).where(in_batch)
    if held:
        new_source = new_source.where(C.c.account_id.not_in(list(held)))
    new_ids = db.session.scalars(sa.insert(A).from_select(
        ["account_id", "name", "active", "current_version", "source_pushdown_id", "created_at", "updated_at"],
        new_source).returning(A.c.id)).all() if len(held) < len(accounts) else []
    version_values = (_value(v.number, V.c.number.type), _value(v.name, V.c.name.type),
                      _value(v.trigger_kind, V.c.trigger_kind.type), _value(v.trigger_config, V.c.trigger_config.type),
                      _value(v.steps, V.c.steps.type), _value(now, V.c.created_at.type))
    version_columns = ["automation_id", "number", "name", "trigger_kind", "trigger_config", "steps", "created_at"]
    if new_ids:  # new copies have no version yet
        db.session.execute(sa.insert(V).from_select(version_columns, sa.select(A.c.id, *version_values)
                                                    .where(A.c.id.in_(new_ids))))
    if held:  # re-pushed copies may lack this version
        versioned = set(db.session.scalars(sa.select(V.c.automation_id).where(
            V.c.automation_id.in_(list(held.values())), V.c.number == v.number)))
        missing = [i for i in held.values() if i not in versioned]
        if missing:
            db.session.execute(sa.insert(V).from_select(version_columns, sa.select(A.c.id, *version_values)
                                                        .where(A.c.id.in_(missing))))
    copied = db.session.execute(sa.update(C).where(in_batch).values(
        status="copied", version_number=v.number, error=None, updated_at=now,
        automation_id=sa.select(A.c.id).where(A.c.source_pushdown_id == row.id, A.c.account_id == C.c.account_id)
        .scalar_subquery())).rowcount
    return copied, failed


# ---- P5: one switch for all -------------------------------------------------------------------------

def switch(row: Pushdown, active: bool, actor: audit.Actor) -> Pushdown:
    """"Activate all" / "Deactivate all": one UPDATE in one transaction, so the automation is never
    active in one sub-account and inactive in another; counts are exact as soon as it returns."""
    if row.status != "published":
        raise Conflict(str(_l("Publish the pushdown first.")))
    _switch(row, active)
    audit.record(actor, "pushdown_activated" if active else "pushdown_deactivated", agency_id=row.agency_id,
                 **{"pushdown_id": row.id})
    db.session.commit()
    return row


def release_account(account_id: int, agency_id: int | None) -> None:
    """A3, A4: an account leaving `agency_id` (transferred or detached) leaves that agency's pushdowns.
    It is no longer one of their sub-accounts, and the copies it holds become its own automations:
    no later publish, update or switch of the previous agency reaches them. Part of the caller's
    transaction."""
    if agency_id is None:
        return
    theirs = sa.select(Pushdown.id).where(Pushdown.agency_id == agency_id).scalar_subquery()
    db.session.execute(sa.delete(PushdownCopy).where(PushdownCopy.account_id == account_id,
                                                     PushdownCopy.pushdown_id.in_(theirs)))
    db.session.execute(sa.update(Automation).where(Automation.account_id == account_id,
                                                   Automation.source_pushdown_id.in_(theirs))
                       .values(source_pushdown_id=None, updated_at=utcnow()))


def _switch(row: Pushdown, active: bool) -> None:
    # Locks the pushdown row first, so a publish batch and a switch never interleave.
    db.session.execute(sa.update(Pushdown).where(Pushdown.id == row.id).values(active=active))
    db.session.execute(sa.update(Automation).where(Automation.source_pushdown_id == row.id,
                                                   Automation.deleted_at.is_(None))
                       .values(active=active, updated_at=utcnow()))
    row.active = active


def run_due() -> None:
    """Publishes scheduled pushdowns and fires scheduled activations whose instant has come."""
    now = utcnow()
    for row in db.session.scalars(sa.select(Pushdown).where(Pushdown.status == "scheduled",
                                                            Pushdown.publish_at <= now).limit(100)).all():
        try:
            publish(row, None, audit.Actor("system:scheduler", "scheduled publish"))
        except (ValidationFailed, Conflict) as exc:
            db.session.rollback()
            row.status = "draft"
            audit.record(audit.Actor("system:scheduler", "scheduled publish"), "pushdown_schedule_failed",
                         agency_id=row.agency_id, **{"pushdown_id": row.id, "reason": exc.message})
            db.session.commit()
    for row in db.session.scalars(sa.select(Pushdown).where(
            Pushdown.status == "published", Pushdown.activation_mode == "at", Pushdown.activated_at.is_(None),
            Pushdown.activate_at <= now).limit(100)).all():
        _switch(row, True)
        row.activated_at = now
        audit.record(audit.Actor("system:scheduler", "scheduled activation"), "pushdown_activated",
                     agency_id=row.agency_id, **{"pushdown_id": row.id})
        db.session.commit()


# ---- P2/P9: exact counts, the report ------------------------------------------------------------

def _state_columns():
    a = Automation.__table__
    present = sa.and_(PushdownCopy.status == "copied", a.c.id.is_not(None), a.c.deleted_at.is_(None))
    state = sa.case((sa.and_(present, a.c.active), "active"), (present, "inactive"), else_="missing")
    return a, state


def counts(pushdown_ids: list[int]) -> dict[int, dict[str, int]]:
    """{pushdown id: {active, inactive, missing, selected, failed, pending}} in one query."""
    if not pushdown_ids:
        return {}
    a, state = _state_columns()
    rows = db.session.execute(
        sa.select(PushdownCopy.pushdown_id, state.label("state"), PushdownCopy.status, sa.func.count())
        .select_from(PushdownCopy).outerjoin(a, a.c.id == PushdownCopy.automation_id)
        .where(PushdownCopy.pushdown_id.in_(pushdown_ids))
        .group_by(PushdownCopy.pushdown_id, state, PushdownCopy.status)).all()
    out = {i: {"active": 0, "inactive": 0, "missing": 0, "selected": 0, "failed": 0, "pending": 0}
           for i in pushdown_ids}
    for pushdown_id, st, copy_status, n in rows:
        out[pushdown_id][st] += n
        out[pushdown_id]["selected"] += n
        if copy_status in ("failed", "pending"):
            out[pushdown_id][copy_status] += n
    return out


def listing(agency_id: int) -> list[dict]:
    rows = db.session.scalars(AgencyScope(agency_id).select(Pushdown).order_by(Pushdown.id.desc())).all()
    automations = {a.id: a for a in db.session.scalars(sa.select(Automation).where(
        Automation.id.in_({r.automation_id for r in rows})))}
    numbers = counts([r.id for r in rows])
    out = []
    for r in rows:
        automation = automations.get(r.automation_id)
        out.append({"row": r, "automation": automation, "counts": numbers[r.id],
                    "parent_changed": r.status == "published" and automation is not None
                    and automation.current_version != r.version_number})
    return out


REPORT_STATES = ("active", "inactive", "missing")


def report(row: Pushdown, state: str = "", q: str = "", after_name: str = "", limit: int = 50):
    """The View page: per sub-account, its state, the version it holds and its last change. Keyset
    pages by account name."""
    a, st = _state_columns()
    stmt = (sa.select(HostedAccount.id, HostedAccount.name, HostedAccount.client_name, st.label("state"),
                      PushdownCopy.version_number, PushdownCopy.status, PushdownCopy.error,
                      sa.func.coalesce(a.c.updated_at, PushdownCopy.updated_at).label("changed"))
            .select_from(PushdownCopy).join(HostedAccount, HostedAccount.id == PushdownCopy.account_id)
            .outerjoin(a, a.c.id == PushdownCopy.automation_id)
            .where(PushdownCopy.pushdown_id == row.id))
    if state in REPORT_STATES:
        stmt = stmt.where(st == state)
    q = (q or "").strip().lower()[:100]
    if q:
        stmt = stmt.where(HostedAccount.search_text.contains(q, autoescape=True))
    if after_name:
        stmt = stmt.where(HostedAccount.name > after_name)
    rows = db.session.execute(stmt.order_by(HostedAccount.name).limit(limit + 1)).all()
    return rows[:limit], (rows[limit - 1].name if len(rows) > limit else None)


