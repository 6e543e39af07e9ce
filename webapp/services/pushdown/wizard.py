"""P2/P3: a pushdown while it is prepared, the wizard - its one automation, the sub-accounts chosen
(its PushdownCopy rows), when it becomes active, and its schedule. A published pushdown is no longer
edited here.

The dashboard's wizard writes nothing until "Save as draft", "Schedule" or "Publish now": until then
its choices travel in the form (a `Selection`), and `save_wizard` writes them in one transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ...extensions import db
from ...models import HostedAccount, Pushdown, PushdownCopy, User, utcnow
from .. import audit, permissions
from ..dates import timezone_set
from ..errors import Conflict, NotFound, ValidationFailed
from ..scope import AgencyScope, parse_id
from .automations import parent_automation
from .franchise import require_franchise


ELIGIBLE_STATUSES = ("active",)


def usable_clause():
    """An account that can get a pushdown: active, or cancelled but paid until its period ends."""
    return sa.or_(HostedAccount.status.in_(ELIGIBLE_STATUSES),
                  sa.and_(HostedAccount.status == "cancelled", HostedAccount.period_end >= utcnow().date()))


def _fail(field_name: str, message) -> ValidationFailed:
    return ValidationFailed(str(message), {field_name: str(message)})


# ---- P2/P3: pushdowns, the wizard ---------------------------------------------------------------

def pushdown(agency_id: int, pushdown_id) -> Pushdown:
    return AgencyScope(agency_id).get(Pushdown, pushdown_id)


def _one_automation(agency_id: int, automation_ids: list):
    """The one automation of the parent account a pushdown pushes (P3 step 1)."""
    ids = [a for a in automation_ids if str(a).strip()]
    if len(ids) != 1:
        raise _fail("automation_id", _l("Choose exactly one automation: a pushdown pushes one automation."))
    return parent_automation(agency_id, ids[0])


def _new_draft(agency_id: int, automation, actor: audit.Actor) -> Pushdown:
    """A draft of `automation`, added, flushed and audited in the caller's transaction."""
    user_id = int(actor.ref.split(":")[1]) if actor.ref.startswith("user:") else None
    row = Pushdown(agency_id=agency_id, automation_id=automation.id, status="draft",
                   created_by_id=user_id if user_id and db.session.get(User, user_id) else None)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "pushdown_created", agency_id=agency_id, pushdown_id=row.id)
    return row


def create_draft(agency_id: int, automation_ids: list, actor: audit.Actor) -> Pushdown:
    """P3 step 1: exactly one automation of the parent account."""
    permissions.require(actor, "library")
    require_franchise(agency_id)
    row = _new_draft(agency_id, _one_automation(agency_id, automation_ids), actor)
    db.session.commit()
    return row


def _editable(row: Pushdown) -> None:
    if row.status == "published":
        raise Conflict(str(_l("This pushdown is published: it cannot be edited. Use “Push update” or a new pushdown.")))


def change_automation(row: Pushdown, automation_ids: list) -> Pushdown:
    _editable(row)
    row.automation_id = _one_automation(row.agency_id, automation_ids).id
    db.session.commit()
    return row


def _eligible(agency_id: int):
    return AgencyScope(agency_id).accounts().where(HostedAccount.kind == "resold", usable_clause())


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


def _check_choosable(agency_id: int, ids: set[int]) -> None:
    """Accounts chosen by id, set-based: another agency's is not found (404, nothing written); one that is
    not in use cannot be chosen (422)."""
    found = set(db.session.scalars(AgencyScope(agency_id).accounts()
                                   .with_only_columns(HostedAccount.id).where(HostedAccount.id.in_(ids))))
    if found != ids:
        raise NotFound()
    eligible = set(db.session.scalars(_eligible(agency_id).with_only_columns(HostedAccount.id)
                                      .where(HostedAccount.id.in_(ids))))
    if eligible != ids:
        raise _fail("accounts", _l("Only sub-accounts in use (active, or cancelled until their period ends) can "
                                   "get a pushdown."))


def select(row: Pushdown, account_ids: list) -> int:
    """Adds accounts by id. Another agency's account is not found (nothing written); one that is
    not active cannot be chosen."""
    _editable(row)
    ids = {parse_id(a) for a in account_ids}
    if not ids:
        return selected_count(row)
    _check_choosable(row.agency_id, ids)
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
    if tz_name not in timezone_set():  # the zones offered everywhere
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


@dataclass
class ActivationInput:
    mode: str = "none"  # none | at | on_push
    day: str = ""
    at: str = ""
    tz: str = ""


def set_activation(row: Pushdown, data: ActivationInput) -> Pushdown:
    _set_activation(row, data)
    db.session.commit()
    return row


def _set_activation(row: Pushdown, data: ActivationInput) -> None:
    _editable(row)
    if data.mode not in ("none", "at", "on_push"):
        raise _fail("activation", _l("Choose when the automation becomes active."))
    row.activation_mode = data.mode
    if data.mode == "at":
        row.activate_at = local_instant(data.day, data.at, data.tz, "activate")
        row.activate_tz = data.tz.strip()
    else:
        row.activate_at, row.activate_tz = None, None


def _local(when: datetime | None, tz_name: str | None) -> tuple[str, str]:
    if not when or not tz_name:
        return "", ""
    local = when.astimezone(ZoneInfo(tz_name))
    return local.date().isoformat(), local.strftime("%H:%M")


def activation_of(row: Pushdown) -> ActivationInput:
    """A pushdown's activation as it was typed (date and time in its zone), to show it or save it again."""
    day, at = _local(row.activate_at, row.activate_tz)
    return ActivationInput(row.activation_mode or "none", day, at, row.activate_tz or "")


def schedule_of(row: Pushdown) -> tuple[str, str, str]:
    """A scheduled pushdown's publish instant as it was typed: (date, time, time zone); empty when none."""
    day, at = _local(row.publish_at, row.publish_tz)
    return day, at, row.publish_tz or ""


def save_draft(row: Pushdown, activation: ActivationInput, actor: audit.Actor) -> Pushdown:
    """"Save as draft": keeps the choices; a scheduled pushdown goes back to draft."""
    permissions.require(actor, "library")
    _set_activation(row, activation)
    row.status, row.publish_at, row.publish_tz = "draft", None, None
    db.session.commit()
    return row


def schedule(row: Pushdown, activation: ActivationInput, day: str, at: str, tz: str, actor: audit.Actor) -> Pushdown:
    """P3 "Schedule": published by the sweeper at that instant."""
    permissions.require(actor, "library")
    _editable(row)
    _need_accounts(row)
    publish_at = local_instant(day, at, tz, "publish")
    _set_activation(row, activation)
    if row.activation_mode == "at" and row.activate_at < publish_at:
        raise _fail("activate_date", _l("The activation cannot come before the publish."))
    row.status, row.publish_at, row.publish_tz = "scheduled", publish_at, tz.strip()
    audit.record(actor, "pushdown_scheduled", agency_id=row.agency_id, **{"pushdown_id": row.id})
    db.session.commit()
    return row


def _need_accounts(row: Pushdown) -> None:
    if not selected_count(row):
        raise _fail("accounts", _l("Select at least one sub-account."))


# ---- the dashboard's wizard: its choices in the form until saved -----------------------------------

MAX_PICKS = 500  # accounts added or removed one by one; a search and "Select all matching" covers more
MAX_MATCHES = 20


@dataclass(frozen=True)
class Selection:
    """The sub-accounts chosen in the wizard, as its form carries them: the draft's saved choice (when
    a draft is edited), plus every account matching one of `matches`, plus `picks`, less `drops`. A few
    values however many accounts it covers, so nothing is written before the person saves."""
    saved: bool = False
    picks: tuple[int, ...] = ()
    matches: tuple[str, ...] = ()
    drops: tuple[int, ...] = ()

    @classmethod
    def parse(cls, saved, picks, matches, drops) -> "Selection":
        """The form's values; ids that are not ids are not found (404)."""
        clean = tuple(dict.fromkeys(" ".join(str(m).split()).lower()[:100] for m in matches))[:MAX_MATCHES]
        return cls(bool(saved), tuple(dict.fromkeys(parse_id(a) for a in picks))[:MAX_PICKS], clean,
                   tuple(dict.fromkeys(parse_id(a) for a in drops))[:MAX_PICKS])


def _search(q: str):
    q = (q or "").strip().lower()[:100]
    return HostedAccount.search_text.contains(q, autoescape=True) if q else sa.true()


def _chosen_clause(sel: Selection, pushdown_id: int | None):
    chosen = [HostedAccount.id.in_(sel.picks)] if sel.picks else []
    chosen += [_search(m) for m in sel.matches]
    if sel.saved and pushdown_id:
        chosen.append(HostedAccount.id.in_(sa.select(PushdownCopy.account_id)
                                           .where(PushdownCopy.pushdown_id == pushdown_id)))
    clause = sa.or_(*chosen) if chosen else sa.false()
    return sa.and_(clause, HostedAccount.id.not_in(sel.drops)) if sel.drops else clause


def wizard_accounts(agency_id: int, sel: Selection, pushdown_id: int | None, q: str, limit: int = 50):
    """P3 step 2 in the wizard: the first `limit` usable accounts matching `q`, each with whether it is
    chosen; how many match; how many are chosen in all."""
    chosen = _chosen_clause(sel, pushdown_id)
    matching = _eligible(agency_id).where(_search(q))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(matching.subquery()))
    rows = db.session.execute(matching.add_columns(chosen.label("chosen")).order_by(HostedAccount.name)
                              .limit(limit)).all()
    return [(r[0], bool(r[1])) for r in rows], total, wizard_count(agency_id, sel, pushdown_id)


def wizard_count(agency_id: int, sel: Selection, pushdown_id: int | None) -> int:
    stmt = _eligible(agency_id).where(_chosen_clause(sel, pushdown_id)).with_only_columns(HostedAccount.id)
    return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))


def change_selection(agency_id: int, sel: Selection, action: str, account_id=None, q: str = "") -> Selection:
    """The picker's buttons: add or remove one account, select all matching `q`, clear. Writes nothing."""
    if action == "clear":
        return Selection()
    if action == "add_matching":
        q = " ".join((q or "").split()).lower()[:100]
        if len(sel.matches) >= MAX_MATCHES and q not in sel.matches:
            raise _fail("accounts", _l("Too many searches selected at once: save a draft, then go on."))
        undropped = set(db.session.scalars(sa.select(HostedAccount.id).where(
            HostedAccount.id.in_(sel.drops), _search(q)))) if sel.drops else set()
        return Selection(sel.saved, sel.picks, tuple(dict.fromkeys(sel.matches + (q,))),
                         tuple(i for i in sel.drops if i not in undropped))
    if action not in ("add", "remove"):
        return sel
    account = AgencyScope(agency_id).account(account_id)  # another agency's account: 404
    if action == "add":
        if db.session.scalar(_eligible(agency_id).where(HostedAccount.id == account.id)
                             .with_only_columns(HostedAccount.id)) is None:
            raise _fail("accounts", _l("Only sub-accounts in use (active, or cancelled until their period ends) "
                                       "can get a pushdown."))
        picks = sel.picks if account.id in sel.picks else sel.picks + (account.id,)
        if len(picks) > MAX_PICKS:
            raise _fail("accounts", _l("Add at most %(n)s sub-accounts one by one; search and select all "
                                       "matching for more.", n=MAX_PICKS))
        return Selection(sel.saved, picks, sel.matches, tuple(i for i in sel.drops if i != account.id))
    drops = sel.drops if account.id in sel.drops else sel.drops + (account.id,)
    return Selection(sel.saved, tuple(i for i in sel.picks if i != account.id), sel.matches, drops[:MAX_PICKS])


def selection_of(agency_id: int, account_ids: list | None, matching: str | None) -> Selection:
    """The sub-accounts of a pushdown chosen all at once (the API), checked as the wizard's picker checks each
    one it adds: `account_ids` replace the draft's choice (None: keep it), plus every usable account matching
    `matching` ("" for all; None: none)."""
    sel = Selection.parse(account_ids is None, account_ids or [], [matching] if matching is not None else [], [])
    if sel.picks:
        _check_choosable(agency_id, set(sel.picks))
    return sel


def _write_selection(row: Pushdown, sel: Selection, pushdown_id: int | None) -> None:
    """The draft's copies become exactly the selection (part of the caller's transaction)."""
    chosen = _eligible(row.agency_id).where(_chosen_clause(sel, pushdown_id)).with_only_columns(HostedAccount.id)
    # Set-based, however many accounts it covers: the copies not chosen go, the chosen ones missing come.
    db.session.execute(sa.delete(PushdownCopy).where(PushdownCopy.pushdown_id == row.id,
                                                     PushdownCopy.account_id.not_in(chosen.scalar_subquery())))
    _insert_copies(row, chosen)


def prepare(agency_id: int, row: Pushdown | None, automation_ids: list, sel: Selection, actor: audit.Actor) -> Pushdown:
    """The wizard's choices into a draft, new or edited, without committing: the caller saves,
    schedules or publishes it in the same transaction."""
    permissions.require(actor, "library")
    require_franchise(agency_id)
    automation = _one_automation(agency_id, automation_ids)
    if row is None:
        row = _new_draft(agency_id, automation, actor)
        _write_selection(row, sel, None)
    else:
        _editable(row)
        row.automation_id = automation.id
        _write_selection(row, sel, row.id)
    db.session.flush()
    return row
