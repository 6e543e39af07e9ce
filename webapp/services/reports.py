"""Abuse and bounce reports (S6, N3).

Support files a report against a hosted account; it is e-mailed to the account's notification e-mail when
that address is the agency's (a resold account), and to the agency's own notice address when it is the
client's (a referred or standalone account): a report never goes to the client. The agency sees its reports
(the account's page, the Reports list, the API) and acknowledges each with a reply; support sees open and
acknowledged reports in its queue, closes them, and may disable the account for abuse (the agency is told)
and enable it again. A renewal keeps charging an account disabled for abuse, but never enables it again:
only support does (renewals.advanced_values). Every support action is written to the audit log."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import Agency, HostedAccount, OutboundEmail, User, utcnow
from ..models.reports import REPORT_KINDS, REPORT_SEVERITIES, REPORT_STATUSES, AbuseReport
from . import audit, events, hosts, keys, mail, notices, permissions
from .errors import Conflict, Forbidden, NotFound, ValidationFailed
from .scope import AgencyScope, parse_id
from .validation import text_problem

KINDS, SEVERITIES, STATUSES = REPORT_KINDS, REPORT_SEVERITIES, REPORT_STATUSES
# What support still has to look at: the queue's default.
WAITING = ("open", "acknowledged")
# Support's queue filters (in its URL): waiting (the default), one status, or every report.
QUEUE_FILTERS = ("waiting", "open", "acknowledged", "closed", "all")

MAX_DESCRIPTION = 2_000
MAX_EVIDENCE = 20_000
MAX_SAMPLE = 50_000
MAX_REPLY = 5_000
PER_PAGE = 50

# The statuses an account can be disabled from (a provisioning account is not in use yet, an expired one
# is closed already).
DISABLEABLE = ("active", "cancelled", "disabled")


@dataclass(frozen=True)
class ReportInput:
    """What support types into the form (or any other caller sends); the service checks every field."""
    account: str
    kind: str
    severity: str
    description: str
    evidence: str
    sample_message: str = ""


@dataclass(frozen=True)
class ReportRow:
    report: AbuseReport
    account_name: str
    agency_name: str | None = None


@dataclass(frozen=True)
class ReportPage:
    rows: list[ReportRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


# ---- support: filing ------------------------------------------------------------------------------------

def _require_support(staff: User | None) -> None:
    if staff is None or not getattr(staff, "is_support", False):
        raise Forbidden(str(_l("Only support staff can do this.")))


def _required_text(value, limit: int, missing: str, too_long: str) -> tuple[str | None, str | None]:
    """(the cleaned text, None) or (None, the problem)."""
    value = (value or "").strip() if isinstance(value, str) else ""
    problem = text_problem(value)
    if problem:
        return None, problem
    if not value:
        return None, missing
    if len(value) > limit:
        return None, too_long
    return value, None


def _account_by_name(name) -> HostedAccount | None:
    name = (name or "").strip().lower() if isinstance(name, str) else ""
    if not name or text_problem(name):
        return None
    return db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == name[:40]))


def check(data: ReportInput) -> tuple[HostedAccount, dict]:
    """The account and the clean values, or ValidationFailed with every field's problem at once."""
    errors: dict[str, str] = {}
    values: dict = {}
    account = None
    if not (data.account or "").strip():
        errors["account"] = str(_l("Enter the account's address (its name)."))
    else:
        account = _account_by_name(data.account)
        if account is None:
            errors["account"] = str(_l("No hosted account has this address."))
    if data.kind not in KINDS:
        errors["kind"] = str(_l("Choose abuse or bounce."))
    if data.severity not in SEVERITIES:
        errors["severity"] = str(_l("Choose low, medium or high."))
    for field, limit, missing, too_long in (
            ("description", MAX_DESCRIPTION, _l("Say what happened."),
             _l("At most %(num)s characters.", num=f"{MAX_DESCRIPTION:,}")),
            ("evidence", MAX_EVIDENCE, _l("Paste the evidence: the complaint, the bounce or the log lines."),
             _l("At most %(num)s characters.", num=f"{MAX_EVIDENCE:,}"))):
        value, problem = _required_text(getattr(data, field), limit, str(missing), str(too_long))
        if problem:
            errors[field] = problem
        values[field] = value
    sample = (data.sample_message or "").strip() if isinstance(data.sample_message, str) else ""
    if text_problem(sample):
        errors["sample_message"] = text_problem(sample)
    elif len(sample) > MAX_SAMPLE:
        errors["sample_message"] = str(_l("At most %(num)s characters.", num=f"{MAX_SAMPLE:,}"))
    values["sample_message"] = sample or None
    if errors:
        raise ValidationFailed(next(iter(errors.values())), errors)
    return account, values


def file(data: ReportInput, *, staff: User, actor: audit.Actor) -> AbuseReport:
    """Support files a report; the agency is e-mailed. Nothing is written when a field is refused."""
    _require_support(staff)
    account, values = check(data)
    report = AbuseReport(agency_id=account.agency_id, account_id=account.id, kind=data.kind,
                         severity=data.severity, status="open", filed_by_id=staff.id, **values)
    db.session.add(report)
    db.session.flush()
    emails = _tell_agency("abuse_report", report, account, key=keys.notice("abuse_report", report.id))
    audit.record(actor, "report_filed", agency_id=report.agency_id, account_id=account.id, report=report.id,
                 kind=report.kind, severity=report.severity, emailed=[e.to_address for e in emails])
    events.report_opened(report)
    db.session.commit()
    mail.enqueue_pending(*emails)
    return report


def _tell_agency(kind: str, report: AbuseReport, account: HostedAccount, *, key: str) -> list[OutboundEmail]:
    """N3: to the account's notification e-mail when it is the agency's own (a resold or parent account);
    when it is the client's (referred, standalone), to the agency's notice address instead, never to the
    client. A report with no agency (a standalone account) is e-mailed to no one."""
    if report.agency_id is None:
        return []
    return notices.to_agency_of(account, kind, {
        "report": report, "report_url": hosts.dashboard_url(f"/reports/{report.id}"),
        "contact_url": hosts.dashboard_url("/contact")}, key=key, agency_id=report.agency_id)


# ---- the agency -----------------------------------------------------------------------------------------

def _rows(stmt) -> list[ReportRow]:
    return [ReportRow(report, name, agency_name) for report, name, agency_name in db.session.execute(stmt)]


def _listing_select():
    return (sa.select(AbuseReport, HostedAccount.name, Agency.name)
            .join(HostedAccount, HostedAccount.id == AbuseReport.account_id)
            .outerjoin(Agency, Agency.id == AbuseReport.agency_id))


def _page(stmt, order, page: int, per_page: int) -> ReportPage:
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.with_only_columns(AbuseReport.id)
                                                                     .subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)  # past the end: the last page, as the other lists do
    rows = _rows(stmt.order_by(*order).offset((page - 1) * per_page).limit(per_page))
    return ReportPage(rows, total, page, per_page)


def listing(scope: AgencyScope, *, actor: audit.Actor, status: str = "", account_id: int | None = None,
            page: int = 1, per_page: int = PER_PAGE) -> ReportPage:
    """The agency's reports, newest first; `status` one of STATUSES (else every report)."""
    permissions.require(actor, "view")
    stmt = _listing_select().where(AbuseReport.agency_id == scope.agency_id)
    if status in STATUSES:
        stmt = stmt.where(AbuseReport.status == status)
    if account_id is not None:
        stmt = stmt.where(AbuseReport.account_id == account_id)
    return _page(stmt, (AbuseReport.created_at.desc(), AbuseReport.id.desc()), page, per_page)


def for_account(scope: AgencyScope, account: HostedAccount, *, actor: audit.Actor) -> list[ReportRow]:
    """The reports of one of the agency's accounts (its page lists them), newest first."""
    return listing(scope, actor=actor, account_id=account.id, per_page=100).rows


def get(scope: AgencyScope, report_id, *, actor: audit.Actor) -> AbuseReport:
    """One of the agency's reports; another agency's id is not found."""
    permissions.require(actor, "view")
    return scope.get(AbuseReport, report_id)


def acknowledge(scope: AgencyScope, report_id, *, reply: str, user: User | None, actor: audit.Actor) -> AbuseReport:
    """The agency acknowledges an open report with its reply (what it did about it); `user` is who replied (the
    person logged in, or the API token's creator)."""
    permissions.require(actor, "manage_accounts")
    report = scope.get(AbuseReport, report_id)
    text, problem = _required_text(reply, MAX_REPLY, str(_l("Say what you did about it.")),
                                   str(_l("At most %(num)s characters.", num=f"{MAX_REPLY:,}")))
    if problem:
        raise ValidationFailed(problem, {"reply": problem})
    # Claimed with a conditional UPDATE: two people acknowledging at once (or a double click) answer once.
    claimed = db.session.execute(
        sa.update(AbuseReport).where(AbuseReport.id == report.id, AbuseReport.status == "open")
        .values(status="acknowledged", acknowledged_at=utcnow(),
                acknowledged_by_id=user.id if user is not None else None, agency_reply=text)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        db.session.rollback()
        raise Conflict(str(_l("This report was already acknowledged or closed.")))
    audit.record(actor, "report_acknowledged", agency_id=scope.agency_id, account_id=report.account_id,
                 report=report.id)
    db.session.commit()
    db.session.refresh(report)
    return report


# ---- support: the queue and its decisions ------------------------------------------------------------------

def queue(status: str = "waiting", page: int = 1, per_page: int = PER_PAGE) -> ReportPage:
    """Support's reports, oldest first: open and acknowledged by default, else one status or all."""
    stmt = _listing_select()
    if status in STATUSES:
        stmt = stmt.where(AbuseReport.status == status)
    elif status != "all":
        stmt = stmt.where(AbuseReport.status.in_(WAITING))
    return _page(stmt, (AbuseReport.created_at, AbuseReport.id), page, per_page)


def staff_get(report_id) -> AbuseReport:
    report = db.session.get(AbuseReport, parse_id(report_id))
    if report is None:
        raise NotFound()
    return report


def detail(report: AbuseReport) -> dict:
    """What a report's page shows beside the report: its account, its agency, who filed, acknowledged and
    closed it (a person who has left shows as no one)."""
    people = {u.id: u.email for u in db.session.scalars(sa.select(User).where(User.id.in_(
        [i for i in (report.filed_by_id, report.acknowledged_by_id, report.closed_by_id) if i])))}
    return {"report": report, "account": db.session.get(HostedAccount, report.account_id),
            "agency": db.session.get(Agency, report.agency_id) if report.agency_id else None,
            "filed_by": people.get(report.filed_by_id), "acknowledged_by": people.get(report.acknowledged_by_id),
            "closed_by": people.get(report.closed_by_id)}


def close(report_id, *, staff: User, actor: audit.Actor) -> AbuseReport:
    _require_support(staff)
    report = staff_get(report_id)
    closed = db.session.execute(
        sa.update(AbuseReport).where(AbuseReport.id == report.id, AbuseReport.status.in_(WAITING))
        .values(status="closed", closed_at=utcnow(), closed_by_id=staff.id)
        .execution_options(synchronize_session=False)).rowcount
    if closed != 1:
        db.session.rollback()
        raise Conflict(str(_l("This report is already closed.")))
    audit.record(actor, "report_closed", agency_id=report.agency_id, account_id=report.account_id, report=report.id)
    db.session.commit()
    db.session.refresh(report)
    return report


def disable_account(report_id, *, staff: User, actor: audit.Actor) -> AbuseReport:
    """Support disables the reported account for abuse: its client sees the closed page, the agency cannot
    open it, and the agency is told. It keeps renewing on its day (renewals), but only support enables it."""
    _require_support(staff)
    report = staff_get(report_id)
    account = db.session.get(HostedAccount, report.account_id)
    if report.status == "closed":  # the agency could no longer answer the report its account is disabled for
        raise Conflict(str(_l("The report is closed: an account is disabled from an open or acknowledged report.")))
    if account.status == "disabled" and account.disabled_reason == "abuse":
        raise Conflict(str(_l("%(name)s is already disabled for abuse.", name=account.name)))
    if account.status == "provisioning":
        raise Conflict(str(_l("%(name)s is still being set up: it cannot be disabled yet.", name=account.name)))
    if account.status not in DISABLEABLE:
        raise Conflict(str(_l("%(name)s has expired: there is nothing to disable.", name=account.name)))
    now = utcnow()
    # From whatever it was (active, cancelled, or disabled as unpaid) to disabled for abuse, in one UPDATE
    # that only applies if nobody changed it meanwhile.
    changed = db.session.execute(
        sa.update(HostedAccount).where(HostedAccount.id == account.id, HostedAccount.status == account.status,
                                       HostedAccount.disabled_reason.is_(None) if account.disabled_reason is None
                                       else HostedAccount.disabled_reason == account.disabled_reason)
        .values(status="disabled", disabled_at=now, disabled_reason="abuse")
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        db.session.rollback()
        raise Conflict(str(_l("%(name)s changed meanwhile: look at it again.", name=account.name)))
    report.account_disabled_at = now
    db.session.flush()
    db.session.refresh(account)
    emails = _tell_agency("account_disabled_abuse", report, account,
                          key=keys.notice("account_disabled_abuse", report.id, f"{now:%Y%m%d%H%M%S%f}"))
    audit.record(actor, "account_disabled_abuse", agency_id=account.agency_id, account_id=account.id,
                 report=report.id, emailed=[e.to_address for e in emails])
    events.account(account, "account.disabled")
    db.session.commit()
    mail.enqueue_pending(*emails)
    return report


def enable_account(report_id, *, staff: User, actor: audit.Actor) -> AbuseReport:
    """Support enables an account it disabled for abuse: active again (or cancelled, if it was)."""
    _require_support(staff)
    report = staff_get(report_id)
    account = db.session.get(HostedAccount, report.account_id)
    if not (account.status == "disabled" and account.disabled_reason == "abuse"):
        raise Conflict(str(_l("%(name)s is not disabled for abuse.", name=account.name)))
    changed = db.session.execute(
        sa.update(HostedAccount).where(HostedAccount.id == account.id, HostedAccount.status == "disabled",
                                       HostedAccount.disabled_reason == "abuse")
        .values(status="cancelled" if account.cancelled_at is not None else "active", disabled_at=None,
                disabled_reason=None)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        db.session.rollback()
        raise Conflict(str(_l("%(name)s changed meanwhile: look at it again.", name=account.name)))
    db.session.execute(sa.update(AbuseReport).where(AbuseReport.account_id == account.id)
                       .values(account_disabled_at=None).execution_options(synchronize_session=False))
    audit.record(actor, "account_enabled_abuse", agency_id=account.agency_id, account_id=account.id,
                 report=report.id)
    events.account(account, "account.enabled")
    db.session.commit()
    db.session.refresh(report)
    db.session.refresh(account)
    return report
