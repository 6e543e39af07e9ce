"""Provisioning a hosted account (A2): idempotent steps run by a background operation.
Each step checks what is already there, so a worker killed at any point resumes without
doing anything twice: one `admin`, one branding, one copy of each template, one notice."""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from .. import faults
from ..extensions import db
from ..models import AccountUser, Branding, CreditBalance, EmailTemplate, HostedAccount, utcnow
from . import hosts, mail, operations
from .errors import ServiceError
from .passwords import generate_password, hash_password

STEPS = ("records", "admin", "branding", "templates", "notice", "activate")
BRANDING_FIELDS = ("product_name", "logo", "logo_mime", "primary_color", "support_email", "support_url",
                   "login_headline", "login_text")


def submit(account: HostedAccount):
    """The provisioning operation of an account (one per account, whatever calls it)."""
    return operations.submit("provision_account", key=f"provision:{account.id}", agency_id=account.agency_id,
                             subject=("account", account.id), total=len(STEPS))


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
                               password_hash=hash_password(password), password_changed_at=utcnow()))
    # Committed with the user: a resumed run finds both or neither.
    op.result = {"login_url": hosts.account_login_url(account), "username": "admin", "password": password}


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
    agency_templates = db.session.scalars(sa.select(EmailTemplate).where(
        EmailTemplate.agency_id == account.agency_id, EmailTemplate.account_id.is_(None))
        .order_by(EmailTemplate.id)).all()
    copied = set(db.session.scalars(sa.select(EmailTemplate.source_template_id).where(
        EmailTemplate.account_id == account.id)).all())
    for tpl in agency_templates:
        if tpl.id not in copied:
            db.session.add(EmailTemplate(account_id=account.id, kind=tpl.kind, name=tpl.name, tags=tpl.tags,
                                         html=tpl.html, source_template_id=tpl.id))


def _notify(account: HostedAccount) -> None:
    email = mail.queue_email(
        to=account.notification_email, kind="account_ready", agency_id=account.agency_id,
        dedupe_key=f"account-ready:{account.id}",
        subject=f"Hosted account {account.name} is ready",
        body=(f"The hosted account {account.name} ({account.client_name}) is ready.\n\n"
              f"Login URL: {hosts.account_login_url(account)}\nUsername: admin\n\n"
              "The password is shown once on the account's page in your dashboard.\n"
              "Nothing has been sent to your client.\n"),
    )
    return email


@operations.handler("provision_account")
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
    email = _notify(account)
    ctx.progress(5, total, "Agency notified")
    faults.point("provision.before_activate")
    if account.status == "provisioning":
        account.status = "active"
    account.provisioned_at = account.provisioned_at or utcnow()
    ctx.progress(6, total, "Ready")
    mail.enqueue_pending(email)
    return op.result


def read_credentials(op) -> dict:
    """A2 for the API: the login URL, username and password of a provisioned account. The password
    goes to the first reader only and is then removed, as the dashboard's Dismiss removes it; a
    conditional UPDATE decides who is first when two read at once."""
    from ..models import Operation
    result = dict(op.result or {})
    password = result.pop("password", None)
    if password is not None:
        taken = db.session.execute(sa.update(Operation).where(
            Operation.id == op.id, sa.cast(Operation.result, sa.Text).contains('"password"')).values(result=result))
        db.session.commit()
        if taken.rowcount != 1:
            password = None
    return {"login_url": result.get("login_url"), "username": result.get("username"), "password": password}
