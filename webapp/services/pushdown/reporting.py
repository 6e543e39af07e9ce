"""P2/P9: exact counts per pushdown (active, inactive, missing in the sub-accounts), the listing and
the report of the View page."""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ...extensions import db
from ...models import Automation, HostedAccount, Pushdown, PushdownCopy
from ..scope import AgencyScope
from .automations import diff
from .publishing import last_operation


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
                    "parent_changed": parent_changed(r, automation)})
    return out


def parent_changed(row: Pushdown, automation: Automation | None) -> bool:
    """P6: the parent's automation has a newer version than the one a published pushdown pushed."""
    return bool(row.status == "published" and automation is not None
                and automation.current_version != row.version_number)


def summary(row: Pushdown) -> dict:
    """The report's figures beside its rows (the View page and the API): the exact counts and their bars,
    the automation, whether the parent changed since the push and how (P6), when the version the
    sub-accounts hold was pushed, and the last publish operation."""
    numbers = counts([row.id])[row.id]
    automation = db.session.get(Automation, row.automation_id)
    changed = parent_changed(row, automation)
    return {"counts": numbers, "bars": chart(numbers), "automation": automation, "changed": changed,
            "changes": diff(automation, row.version_number) if changed else [],
            "pushed_at": version_pushed_at(row), "operation": last_operation(row)}


REPORT_STATES = ("active", "inactive", "missing", "failed", "pending")

# Why a copy failed, as publishing stores it (English), for people in their language.
FAILURE_TEXT = {"The account is still being set up.": _l("The account is still being set up."),
                "The account is cancelled and its period has ended.":
                    _l("The account is cancelled and its period has ended."),
                "The account is cancelled.": _l("The account is cancelled and its period has ended."),
                "The account is disabled.": _l("The account is disabled."),
                "The account has expired.": _l("The account has expired."),
                "The account is expired.": _l("The account has expired."),
                "The account is no longer one of the agency's.": _l("The account is no longer one of the agency's.")}


def failure_text(error: str | None) -> str:
    return str(FAILURE_TEXT.get(error or "", error or ""))


def chart(numbers: dict[str, int]) -> list[dict]:
    """The View page's bars, one per state: a missing copy is split into failed, still being copied and
    deleted in the sub-account (P8). Each with its share of the largest, for the bar's width."""
    deleted = max(0, numbers["missing"] - numbers["failed"] - numbers["pending"])
    bars = [("active", _l("Active"), numbers["active"]), ("inactive", _l("Inactive"), numbers["inactive"]),
            ("pending", _l("Being copied"), numbers["pending"]), ("failed", _l("Failed"), numbers["failed"]),
            ("deleted", _l("Deleted in the sub-account"), deleted)]
    top = max([n for _, _, n in bars] + [1])
    return [{"state": key, "label": str(label), "count": n, "percent": round(100 * n / top)} for key, label, n in bars]


def version_pushed_at(row: Pushdown):
    """When the version the sub-accounts hold was pushed: its first copy (a Push update moves it on), or
    the publish while nothing is copied yet."""
    first = db.session.scalar(sa.select(sa.func.min(PushdownCopy.updated_at)).where(
        PushdownCopy.pushdown_id == row.id, PushdownCopy.status == "copied",
        PushdownCopy.version_number == row.version_number))
    return first or row.published_at


def report(row: Pushdown, state: str = "", q: str = "", after_name: str = "", limit: int = 50):
    """The View page: per sub-account, its state, when its copy was pushed, the version it holds, why
    it failed, and its last change. Keyset pages by account name."""
    a, st = _state_columns()
    stmt = (sa.select(HostedAccount.id, HostedAccount.name, HostedAccount.client_name, st.label("state"),
                      PushdownCopy.version_number, PushdownCopy.status, PushdownCopy.error,
                      sa.case((PushdownCopy.status == "copied", PushdownCopy.updated_at)).label("pushed"),
                      sa.func.coalesce(a.c.updated_at, PushdownCopy.updated_at).label("changed"))
            .select_from(PushdownCopy).join(HostedAccount, HostedAccount.id == PushdownCopy.account_id)
            .outerjoin(a, a.c.id == PushdownCopy.automation_id)
            .where(PushdownCopy.pushdown_id == row.id))
    if state in ("failed", "pending"):
        stmt = stmt.where(PushdownCopy.status == state)
    elif state in REPORT_STATES:
        stmt = stmt.where(st == state)
    q = (q or "").strip().lower()[:100]
    if q:
        stmt = stmt.where(HostedAccount.search_text.contains(q, autoescape=True))
    if after_name:
        stmt = stmt.where(HostedAccount.name > after_name)
    rows = db.session.execute(stmt.order_by(HostedAccount.name).limit(limit + 1)).all()
    return rows[:limit], (rows[limit - 1].name if len(rows) > limit else None)
