"""Provisioning a hosted account (A2): idempotent steps run by a background operation.
Each step checks what is already there, so a worker killed at any point resumes without
doing anything twice: one `admin`, one branding, one copy of each template, one notice."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.attributes import set_committed_value

from .. import faults
from ..extensions import db
from ..models import AccountUser, AuditEvent, Branding, CreditBalance, EmailTemplate, HostedAccount, Operation, utcnow
from ..models.base import UTCDateTime
from . import audit, events, hosts, keys, mail, notices, operations, permissions
from .errors import ServiceError
from .passwords import generate_password, hash_generated_password
from .templates import adds_templates

STEPS = ("records", "admin", "branding", "templates", "domain", "notice", "activate")
# What the progress shows for each step, in order.
STEP_LABELS = {
    "records": _l("Tenant records"),
    "admin": _l("The admin user, with a generated password"),
    "branding": _l("Branding defaults"),
    "templates": _l("Default templates"),
    "domain": _l("Custom domain registered, waiting for its CNAME record"),
    "notice": _l("Notice to your notification e-mail"),
    "activate": _l("Ready"),
}
# A2: the generated password is shown for this long after provisioning at most, then erased.
CREDENTIALS_SHOWN_FOR = timedelta(hours=24)
BRANDING_FIELDS = ("product_name", "logo", "logo_mime", "primary_color", "accent_color", "support_email",
                   "support_url", "login_headline", "login_text")


def submit(account: HostedAccount):
    """The provisioning operation of an account (one per account, whatever calls it)."""
    return operations.submit("provision_account", key=keys.provisioning(account.id), agency_id=account.agency_id,
                             subject=("account", account.id), total=len(STEPS))


def operation_of(account: HostedAccount):
    """The account's provisioning operation, or None (an account made before, or by the demo data)."""
    return operations.latest("provision_account", subject=("account", account.id))


# ---- A2: the generated password, shown until dismissed or for 24 hours, then erased ------------------------

def _hidden_because(account: HostedAccount, op, now: datetime) -> str | None:
    """Why the kept password may not be shown (and must go), or None while it may: its 24 hours are over,
    the account is cancelled or expired, or it left the agency it was made for (a transfer, a detach)."""
    if account.credentials_until is None or now >= account.credentials_until:
        return "time_over"
    if account.status in ("cancelled", "expired") or account.cancelled_at is not None:
        return account.status if account.status in ("cancelled", "expired") else "cancelled"
    if account.agency_id is None or account.detached_at is not None or account.kind == "standalone" \
            or account.agency_id != op.agency_id:
        return "left_agency"
    return None


def _holds_password():
    return sa.cast(Operation.result, sa.Text).contains('"password"')


def _take_password(op) -> bool:
    """Removes the password from the operation's result; True for the one caller that removed it (a
    conditional UPDATE decides when two do it at once)."""
    result = {k: v for k, v in (op.result or {}).items() if k != "password"}
    taken = db.session.execute(sa.update(Operation).where(Operation.id == op.id, _holds_password())
                               .values(result=result).execution_options(synchronize_session=False)).rowcount == 1
    set_committed_value(op, "result", result)
    return taken


def forget_credentials(account: HostedAccount, op=None, *, reason: str, actor: audit.Actor | None = None) -> bool:
    """Erases the account's kept password, in the caller's transaction; True if this call erased it. While its
    provisioning still runs the password is left to the sweep (the job would write it back)."""
    op = op if op is not None else operation_of(account)
    if op is not None and not op.done:
        return False
    erased = op is not None and "password" in (op.result or {}) and _take_password(op)
    account.credentials_until = None
    if erased:
        audit.record(actor or audit.Actor.system(), "credentials_erased", agency_id=account.agency_id,
                     account_id=account.id, reason=reason)
    return erased


def credentials_of(account: HostedAccount, op=None) -> dict | None:
    """What the account page shows once provisioning has succeeded: the login URL, the username, the password
    and until when it is shown; None when there is no password to show. A password kept past its time (or on
    an account since cancelled, expired or moved) is erased on this read, as the sweep would."""
    op = op if op is not None else operation_of(account)
    if op is None or op.status != "succeeded" or not (op.result or {}).get("password"):
        return None
    reason = _hidden_because(account, op, utcnow())
    if reason is not None:
        if forget_credentials(account, op, reason=reason):
            db.session.commit()
        return None
    return {"login_url": op.result.get("login_url"), "username": op.result.get("username"),
            "password": op.result["password"], "until": account.credentials_until}


def dismiss_credentials(account: HostedAccount, actor: audit.Actor) -> bool:
    """The agency has handed the password over: it is shown no more, and no longer kept (A2). A second press
    finds nothing to erase."""
    permissions.require(actor, "view")
    erased = forget_credentials(account, reason="dismissed", actor=actor)
    db.session.commit()
    return erased


def erase_stale_credentials(now: datetime | None = None) -> int:
    """A2, on every sweeper pass: the passwords past their 24 hours, or of accounts cancelled, expired or moved
    since, are erased (also those nobody reads again). Reads only the few accounts that keep one."""
    now = now or utcnow()
    moved = sa.exists().where(Operation.kind == "provision_account", Operation.subject_type == "account",
                              Operation.subject_id == HostedAccount.id, Operation.agency_id != HostedAccount.agency_id)
    stale = db.session.scalars(sa.select(HostedAccount).where(
        HostedAccount.credentials_until.is_not(None),
        sa.or_(HostedAccount.credentials_until <= now, HostedAccount.status.in_(("cancelled", "expired")),
               HostedAccount.cancelled_at.is_not(None), HostedAccount.detached_at.is_not(None),
               HostedAccount.agency_id.is_(None), moved))
        .order_by(HostedAccount.credentials_until).limit(1000)).all()
    erased = 0
    for account in stale:
        op = operation_of(account)
        erased += forget_credentials(account, op, reason=(_hidden_because(account, op, now) if op else None)
                                     or "time_over")
    db.session.commit()
    return erased


def _ensure_records(account: HostedAccount) -> None:
    for kind in ("sms", "compatibility"):
        scope = f"account:{account.id}"
        exists = db.session.scalar(sa.select(CreditBalance.id).where(
            CreditBalance.agency_id == account.agency_id, CreditBalance.kind == kind, CreditBalance.scope == scope))
        if exists is None:
            db.session.add(CreditBalance(agency_id=account.agency_id, kind=kind, scope=scope,
                                         account_id=account.id, balance=0))


def _ensure_admin(account: HostedAccount, op) -> None:
    admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id,
                                                         AccountUser.username == "admin"))
    if admin is not None:
        return
    password = generate_password()
    db.session.add(AccountUser(account_id=account.id, username="admin", email=account.client_email,
                               password_hash=hash_generated_password(password), password_changed_at=utcnow()))
    # Committed with the user: a resumed run finds both or neither. Shown for 24 hours at most (A2),
    # counted again from the activation.
    op.result = {"login_url": hosts.account_login_url(account), "username": "admin", "password": password}
    account.credentials_until = utcnow() + CREDENTIALS_SHOWN_FOR


def copy_branding(account: HostedAccount) -> Branding | None:
    """The account's branding row, made from the agency defaults if it has none."""
    mine = db.session.scalar(sa.select(Branding).where(Branding.account_id == account.id))
    if mine is not None:
        return mine
    default = db.session.scalar(sa.select(Branding).where(Branding.agency_id == account.agency_id,
                                                          Branding.account_id.is_(None)))
    if default is None:
        return None
    mine = Branding(agency_id=account.agency_id, account_id=account.id,
                    **{f: getattr(default, f) for f in BRANDING_FIELDS})
    db.session.add(mine)
    return mine


def _copy_templates(account: HostedAccount) -> None:
    if not adds_templates(account.agency_id):  # W8 "Add my templates" switched off: nothing copied
        return
    agency_templates = db.session.scalars(sa.select(EmailTemplate).where(
        EmailTemplate.agency_id == account.agency_id, EmailTemplate.account_id.is_(None))
        .order_by(EmailTemplate.id)).all()
    copied = set(db.session.scalars(sa.select(EmailTemplate.source_template_id).where(
        EmailTemplate.account_id == account.id)).all())
    for tpl in agency_templates:
        if tpl.id not in copied:
            db.session.add(EmailTemplate(account_id=account.id, kind=tpl.kind, name=tpl.name, tags=tpl.tags,
                                         html=tpl.html, source_template_id=tpl.id))


def _register_domain(account: HostedAccount, op) -> str | None:
    """A9: the custom domain chosen at Add New is registered pending verification, once: the account
    page and the credentials show its CNAME record from the start, and the account answers there only
    after Verify finds it. Returns the domain, or None when the account has none."""
    domain = account.custom_domain
    if not domain:
        return None
    target = hosts.platform_host(account)
    registered = db.session.scalar(sa.select(AuditEvent.id).where(
        AuditEvent.account_id == account.id, AuditEvent.action == "custom_domain_registered").limit(1))
    if registered is None:
        audit.record(audit.Actor.system(), "custom_domain_registered", agency_id=account.agency_id,
                     account_id=account.id, domain=domain, cname_target=target, verified=False)
    op.result = {**(op.result or {}), "custom_domain": {
        "domain": domain, "cname_target": target, "verified": account.custom_domain_verified_at is not None}}
    return domain


def _notify(account: HostedAccount):
    """The account's notification e-mail is told it is ready: the agency's (in its notice language), or for a
    referred account the client's own (under the account's brand, in its language)."""
    pending = bool(account.custom_domain and not account.custom_domain_verified_at)
    return notices.to_account(account, "account_ready", {
        "login_url": hosts.account_login_url(account), "username": "admin",
        "custom_domain": account.custom_domain if pending else None,
        "cname_target": hosts.platform_host(account) if pending else None,
    }, key=keys.account_ready_email(account.id))


def provision_account(ctx: operations.OperationContext):
    op = ctx.operation
    account = db.session.get(HostedAccount, op.subject_id)
    if account is None:
        raise ServiceError(str(_l("The account to provision no longer exists.")))
    total = len(STEPS)
    _ensure_records(account)
    ctx.progress(1, total, "Tenant records created")
    _ensure_admin(account, op)
    ctx.progress(2, total, "Admin user created")
    faults.point("provision.after_admin")
    copy_branding(account)
    ctx.progress(3, total, "Branding applied")
    _copy_templates(account)
    ctx.progress(4, total, "Templates copied")
    domain = _register_domain(account, op)
    ctx.progress(5, total, f"Custom domain {domain} registered, waiting for its CNAME record" if domain
                 else "No custom domain")
    email = _notify(account)
    ctx.progress(6, total, "Agency notified")
    faults.point("provision.before_activate")
    # Conditional: the account object is as this job last wrote it, and an account cancelled meanwhile
    # stays cancelled. A password still kept is shown for 24 hours from the first activation (A2).
    now = utcnow()
    first = account.provisioned_at is None
    db.session.execute(sa.update(HostedAccount).where(HostedAccount.id == account.id).values(
        status=sa.case((HostedAccount.status == "provisioning", "active"), else_=HostedAccount.status),
        provisioned_at=sa.func.coalesce(HostedAccount.provisioned_at, now),
        credentials_until=sa.case(
            (sa.and_(HostedAccount.provisioned_at.is_(None), HostedAccount.credentials_until.is_not(None)),
             sa.literal(now + CREDENTIALS_SHOWN_FOR, UTCDateTime())), else_=HostedAccount.credentials_until))
        .execution_options(synchronize_session=False))
    if first:  # told once, in the transaction that makes it ready (a rerun after a crash finds it provisioned)
        events.account(account, "account.provisioned")
    ctx.progress(7, total, "Ready")
    mail.enqueue_pending(email)
    return op.result


def read_credentials(op) -> dict:
    """A2 for the API and the referred client's welcome page: the login URL, username and password of a
    provisioned account. The password goes to the first reader only and is then removed, as the dashboard's
    Dismiss removes it (a conditional UPDATE decides who is first when two read at once); past its 24 hours,
    or once the account is cancelled, expired or moved, nobody gets it and it is erased."""
    result = dict(op.result or {})
    password = result.pop("password", None)
    account = db.session.get(HostedAccount, op.subject_id) if op.subject_type == "account" else None
    if password is not None:
        reason = _hidden_because(account, op, utcnow()) if account is not None else None
        if reason is not None:
            forget_credentials(account, op, reason=reason)
            password = None
        elif not _take_password(op):
            password = None
        elif account is not None:
            account.credentials_until = None
            audit.record(audit.Actor.system(), "credentials_erased", agency_id=account.agency_id,
                         account_id=account.id, reason="read_once")
        db.session.commit()
    return {"login_url": result.get("login_url"), "username": result.get("username"), "password": password}
