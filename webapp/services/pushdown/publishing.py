"""P3/P4: publishing - "Publish now", "Push update" and the retry of failed copies submit the
publish_pushdown operation, whose handler (publish_operation) makes the copies; a draft can be deleted.

A publish copies the automation's version of that moment into each pending copy, a batch per
transaction: a worker killed mid-batch loses the batch's uncommitted work, and the next worker
redoes exactly that batch, so no sub-account ever gets two copies."""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ... import faults
from ...extensions import db
from ...models import Automation, AutomationVersion, HostedAccount, Pushdown, PushdownCopy, utcnow
from .. import audit, events, keys, operations, permissions
from ..errors import Conflict
from .automations import version
from .switching import _switch
from .wizard import (ActivationInput, Selection, _editable, _fail, _need_accounts, _set_activation, prepare, save_draft,
                     schedule, selected_count)


BATCH = 1000


def publish(row: Pushdown, activation: ActivationInput | None, actor: audit.Actor):
    """P3 "Publish now" (and the sweeper, for a scheduled one): the copies are made in the background."""
    permissions.require(actor, "library")
    _editable(row)
    _need_accounts(row)
    if activation is not None:
        _set_activation(row, activation)
    automation = db.session.get(Automation, row.automation_id)
    if automation is None or automation.deleted_at is not None:
        raise _fail("automation_id", _l("The automation is no longer in the parent account."))
    row.status, row.published_at, row.version_number = "published", utcnow(), automation.current_version
    audit.record(actor, "pushdown_published", agency_id=row.agency_id,
                 **{"pushdown_id": row.id, "version": row.version_number})
    return _submit_publish(row, published=True)


def save_wizard(agency_id: int, row: Pushdown | None, automation_ids: list, sel: Selection, choice: str,
                activation: ActivationInput, publish_when: tuple[str, str, str], actor: audit.Actor) -> Pushdown:
    """The wizard's last step: its choices written as a draft ("draft"), scheduled ("schedule") or
    published ("now"), in one transaction; a refusal writes nothing, not even a draft."""
    try:
        row = prepare(agency_id, row, automation_ids, sel, actor)
        if choice == "now":
            publish(row, activation, actor)
        elif choice == "schedule":
            schedule(row, activation, *publish_when, actor)
        else:
            save_draft(row, activation, actor)
    except Exception:
        db.session.rollback()
        raise
    return row


def push_update(row: Pushdown, actor: audit.Actor):
    """P6 (beyond): the parent's current version into every chosen sub-account."""
    permissions.require(actor, "library")
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
    return _submit_publish(row, published=True)  # a new version published to the same sub-accounts


def retry_failed(row: Pushdown, actor: audit.Actor):
    """(beyond) Only the sub-accounts whose copy failed are tried again."""
    permissions.require(actor, "library")
    if row.status != "published":
        raise Conflict(str(_l("Only a published pushdown has copies to retry.")))
    failed = db.session.execute(sa.update(PushdownCopy).where(PushdownCopy.pushdown_id == row.id,
                                                              PushdownCopy.status == "failed")
                                .values(status="pending", error=None, updated_at=utcnow())).rowcount
    if not failed:
        raise Conflict(str(_l("No copy of this pushdown failed.")))
    audit.record(actor, "pushdown_retried", agency_id=row.agency_id, **{"pushdown_id": row.id, "copies": failed})
    return _submit_publish(row)


def _submit_publish(row: Pushdown, *, published: bool = False):
    """The copying operation, committed with the pushdown's new state (and, for a publish or an update, the
    pushdown.published webhook event: the copies are then being made)."""
    row.publish_count += 1
    op = operations.submit("publish_pushdown", key=keys.pushdown_publish(row.id, row.publish_count),
                           agency_id=row.agency_id, subject=("pushdown", row.id),
                           params={"pushdown_id": row.id}, total=max(1, selected_count(row)))
    if published:
        events.pushdown(row, "pushdown.published")
    db.session.commit()
    operations.enqueue(op)
    return op


def last_operation(row: Pushdown):
    return operations.latest("publish_pushdown", subject=("pushdown", row.id))


def delete_draft(row: Pushdown, actor: audit.Actor) -> None:
    """P7: a draft goes; its automation stays in the parent account."""
    permissions.require(actor, "library")
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
    if row.activation_mode == "on_push" and row.activated_at is None and row.publish_count <= 1:
        # Once, by the first publish: after it the switch is the person's (an update or a retry keeps it).
        _switch(row, True)
        row.activated_at = utcnow()
    db.session.commit()
    return {"copied": copied, "failed": failed, "version": row.version_number}


def _value(value, type_):
    """A bound value in a SELECT list, typed for PostgreSQL (which infers nothing there)."""
    bound = sa.literal(value, type_)
    return sa.cast(bound, type_) if db.session.get_bind().dialect.name == "postgresql" else bound


NOT_ELIGIBLE = ("provisioning", "cancelled", "disabled", "expired")
# The reasons a copy failed, stored in English and shown translated (the report's `failure_reason`).
FAILURES = {"provisioning": "The account is still being set up.",
            "cancelled": "The account is cancelled and its period has ended.",
            "disabled": "The account is disabled.", "expired": "The account has expired.",
            "moved": "The account is no longer one of the agency's."}


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
        status="failed", error=FAILURES["moved"], updated_at=now)).rowcount
    for status in NOT_ELIGIBLE:
        # A cancelled account is still used until its period ends (W: cancel at the period's end).
        ended = sa.or_(H.c.period_end.is_(None), H.c.period_end < now.date()) if status == "cancelled" else sa.true()
        failed += db.session.execute(sa.update(C).where(in_batch, sa.select(H.c.id).where(
            H.c.id == C.c.account_id, H.c.status == status, ended).exists()).values(
            status="failed", error=FAILURES[status], updated_at=now)).rowcount
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
