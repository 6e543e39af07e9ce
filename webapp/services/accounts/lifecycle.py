"""An account's life (A2, A5, A7, A8, B8): creation and its first charge, plan changes, renewal of an
expired account, cancel, trials, and the states that close it to its client. The money goes through
services.billing, never around it."""
from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import format_date  # a day in a message as pages show it (issue 23)
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from ...catalog import get_catalog
from ...extensions import db
from ...models import AccountUser, HostedAccount, Invoice, Operation, SupportRequest, utcnow
from ...models.accounts import search_text_for
from .. import audit, billing, events, invoice_text, keys, operations, permissions, provisioning, quotes
from ..dates import add_months
from ..errors import Conflict, ServiceError, ValidationFailed
from .validation import DETAIL_FIELDS, ClientDetails, NewAccount, details_problems, price_of, validate_new, normalize_domain

def _first_period(term: str, today: date) -> tuple[date, date]:
    catalog = get_catalog()
    if term == "trial":
        return today, today + timedelta(days=int(catalog.trial["days"]))
    return today, add_months(today, catalog.term_months(term), today.day)


def create(agency_id: int, data: NewAccount, *, request_key: str, actor: audit.Actor):
    """A2: validates, charges the first period (nothing for a trial), creates the account in
    `provisioning` with its operation, and enqueues it. The same request_key twice (a double
    click, a retried API call) gives the same account and one charge."""
    permissions.require(actor, "manage_accounts" if data.term == "trial" else "charge")
    data.name, data.custom_domain = (data.name or "").strip(), normalize_domain(data.custom_domain)
    data.client_email, data.notification_email = data.client_email.strip(), data.notification_email.strip()
    key = keys.signup_invoice(agency_id, request_key)
    earlier = db.session.scalar(sa.select(Invoice).where(Invoice.idempotency_key == key))
    if earlier is not None and earlier.account_id:
        account = db.session.get(HostedAccount, earlier.account_id)
        return account, provisioning.submit(account)
    if earlier is not None and earlier.status == "void":
        # This request was declined (its invoice voided): it is never charged again; a new try is a new request.
        raise Conflict(str(_l("The payment of this form was declined before and nothing was charged. "
                              "Press Add & Pay Now again to try once more.")))
    existing = _account_of_request(agency_id, request_key)
    if existing is not None:
        return existing, provisioning.submit(existing)
    validate_new(data)
    start, end = _first_period(data.term, date.today())
    invoice = None
    if data.term != "trial":
        if billing.card_of(agency_id) is None and billing.balance(agency_id, "prepaid") <= 0:
            raise ValidationFailed(str(_l("Add a card in Billing profile before creating a paid account.")), {})
        invoice = billing.charge_now(
            agency_id=agency_id, kind="signup", key=key, period=(start, end),
            lines=[billing.plan_line(data.name, data.tier, data.term, int(data.contact_limit), start, end)])
    account = HostedAccount(
        agency_id=agency_id, kind="resold", name=data.name, custom_domain=data.custom_domain or None,
        status="provisioning", plan_tier=data.tier, plan_term=data.term, contact_limit=int(data.contact_limit),
        client_name=data.client_name.strip(), client_email=data.client_email,
        notification_email=data.notification_email, language=data.language, timezone=data.timezone,
        period_start=start, period_end=end, anchor_day=start.day)
    try:
        with billing.refunded_on_failure(invoice, "the account could not be created"):
            db.session.add(account)
            db.session.flush()
            if invoice is not None:
                invoice = db.session.get(Invoice, invoice.id)
                invoice.account_id = account.id
            op = provisioning.submit(account)
            op.params = {"request_key": request_key}
            audit.record(actor, "account_created", agency_id=agency_id, account_id=account.id, name=account.name,
                         plan=f"{data.tier}/{data.term}/{data.contact_limit}")
            db.session.commit()
    except IntegrityError:
        raise ValidationFailed(str(_l("The account was not created; see the fields marked.")),
                               {"name": str(_l("“%(name)s” was taken a moment ago; choose another name.",
                                               name=data.name))}) from None
    operations.enqueue(op)
    return account, op


def _account_of_request(agency_id: int, request_key: str) -> HostedAccount | None:
    """A trial made with this request key (trials have no invoice to find it by)."""
    op = db.session.scalar(sa.select(Operation).where(Operation.kind == "provision_account",
                                                      Operation.agency_id == agency_id,
                                                      Operation.params["request_key"].as_string() == request_key))
    return db.session.get(HostedAccount, op.subject_id) if op is not None else None


def retry_provisioning(account: HostedAccount, actor: audit.Actor):
    """A failed provisioning is run again from where it stopped; nothing is charged again."""
    permissions.require(actor, "manage_accounts")
    op = provisioning.submit(account)
    if op.status != "failed":
        raise Conflict(str(_l("Provisioning has not failed: there is nothing to retry.")))
    operations.retry(op)
    audit.record(actor, "provisioning_retried", agency_id=account.agency_id, account_id=account.id)
    db.session.commit()
    return op


# ---- A8: change plan, and A5/A7: renew an expired account -----------------------------------------------

def _per_day(tier: str, term: str, limit: int) -> float:
    price = price_of(tier, term, limit)
    return price / (365 if term == "annual" else 30)


def refuse_if_parent(account: HostedAccount) -> None:
    """The agency's parent account (P1) is where its automations are built, not an account it resells: it has no
    plan to change, nothing to renew, cancel or disable, and takes no credits."""
    if account.kind == "parent":
        raise Conflict(str(_l("This is your parent account, where your automations are built: it has no plan "
                              "to change and cannot be cancelled or disabled.")))


def _payer(account: HostedAccount, actor: audit.Actor | None) -> int | None:
    """The agency whose card pays for a change of this account, or None for its client's own card. An agency
    (its team, its API tokens) never changes the plan of an account billed to its client; the account's own
    admin changes only that."""
    refuse_if_parent(account)
    if account.billed_to_client:
        if actor is not None and not str(actor.ref).startswith("account_user:"):
            _refuse_if_billed_to_its_client(account)
        return None
    if actor is not None and str(actor.ref).startswith("account_user:"):
        raise Conflict(str(_l("This account is billed to its agency: its plan is the agency's to change.")))
    return account.agency_id


def _contact_limit(value) -> int:
    # A number of at most 9 digits (int() refuses a 5 000-digit one with an error of its own); else unknown.
    return int(value) if str(value).isdigit() and len(str(value)) <= 9 else -1


def _discount(agency_id: int | None) -> int:
    return billing.discount_in_force(agency_id) if agency_id is not None else 0


def _as_quote_lines(lines: list[billing.Line]) -> list[quotes.QuoteLine]:
    return [quotes.QuoteLine(line.description, line.unit_cents * line.quantity, line.label) for line in lines]


def _plan_change(account: HostedAccount, tier: str, term: str, contact_limit, actor) -> tuple[quotes.Quote, list]:
    """The preview of a plan change and the invoice lines it would charge (none for a downgrade). The one place
    a change is priced: the preview shown, the API's preview and the charge itself."""
    agency_id = _payer(account, actor)
    if account.status == "provisioning":
        raise ServiceError(str(_l("Wait until the account is ready.")))
    if term == "trial":
        message = _l("An expired account renews on a paid plan.") if account.status == "expired" \
            else _l("A paid account cannot go back to a trial.")
        raise ValidationFailed(str(message), {"term": str(_l("Choose monthly or annual."))})
    limit = _contact_limit(contact_limit)
    new_price = price_of(tier, term, limit)  # refuses a tier, term or limit the catalog does not offer
    percent = _discount(agency_id)
    renewal = get_catalog().apply_discount(new_price, percent)
    subject = {"account": account.id, "plan": [tier, term, limit], "payer": agency_id}
    today = date.today()
    if account.status == "expired" or account.plan_term == "trial":
        # A5/A7: an expired account (a trial, or a paid plan cancelled or lapsed) renews, and a trial becomes
        # paid, from today: its first period charged now.
        start, end = _first_period(term, today)
        lines = [billing.plan_line(account.name, tier, term, limit, start, end)]
        change = "reactivation" if account.status == "expired" else "trial_to_paid"
        return quotes.make(change, _as_quote_lines(lines), discount_percent=percent, agency_id=agency_id,
                           account_id=account.id, renewal_cents=renewal, renews_on=end, effective=start,
                           subject=subject), lines
    if (tier, term, limit) == (account.plan_tier, account.plan_term, account.contact_limit):
        raise ValidationFailed(str(_l("This is already the account's plan.")), {"tier": str(_l("Choose a different plan."))})
    old_day, new_day = _per_day(account.plan_tier, account.plan_term, account.contact_limit), _per_day(tier, term, limit)
    if new_day > old_day:
        remaining = max(0, (account.period_end - today).days) if account.period_end else 0
        amount = int(round((new_day - old_day) * remaining))
        lines = [billing.Line(f"{account.name}: upgrade to {tier} {term}, {limit:,} contacts, "
                              f"pro rata for {remaining} days", amount,
                              label=invoice_text.upgrade_label(account.name, tier, term, limit, remaining))] \
            if amount > 0 else []
        return quotes.make("upgrade", _as_quote_lines(lines), discount_percent=percent, agency_id=agency_id,
                           account_id=account.id, renewal_cents=renewal, renews_on=account.period_end,
                           effective=today, days=remaining, subject=subject), lines
    return quotes.make("downgrade", [], discount_percent=percent, agency_id=agency_id, account_id=account.id,
                       renewal_cents=renewal, renews_on=account.period_end, effective=account.period_end,
                       subject=subject), []


def preview_change(account: HostedAccount, *, tier: str, term: str, contact_limit,
                   actor: audit.Actor | None = None) -> quotes.Quote:
    """What changing the plan (or renewing an expired account) would charge today and cost at each renewal;
    nothing is charged. Raises ValidationFailed for a plan the catalog does not offer."""
    return _plan_change(account, tier, term, contact_limit, actor)[0]


def change_plan(account: HostedAccount, *, tier: str, term: str, contact_limit, request_key: str,
                actor: audit.Actor, quote: str | None = None) -> dict:
    """A8: an upgrade is charged pro rata at once; a downgrade waits for the next renewal. A5/A7: an expired
    account renews (a reactivation) and a trial becomes paid, the first period charged now. `quote` is the token
    of the preview the person confirmed: if today's figures differ, nothing is charged (quotes.StaleQuote, with
    them). The dashboard and the API always send it; None is for callers that price nothing for a person (tests,
    the demo seed). The same request_key twice charges once."""
    permissions.require(actor, "charge")
    fresh, lines = _plan_change(account, tier, term, contact_limit, actor)
    if quote is not None:
        quotes.confirm(fresh, quote)
    tier, term, limit = fresh.subject["plan"]
    agency_id = fresh.subject["payer"]
    if fresh.change in ("reactivation", "trial_to_paid"):
        return _start_paid(account, fresh, lines, request_key, actor)
    if fresh.change == "upgrade":
        invoice = None
        if lines:
            invoice = billing.charge_now(
                agency_id=agency_id, kind="upgrade", account=account, discount_percent=fresh.discount_percent,
                key=keys.upgrade_invoice(account.id, request_key), lines=lines)
        with billing.refunded_on_failure(invoice, "the plan could not be changed"):
            account.plan_tier, account.plan_term, account.contact_limit = tier, term, limit
            account.pending_plan_tier = account.pending_plan_term = account.pending_contact_limit = None
            audit.record(actor, "plan_upgraded", agency_id=account.agency_id, account_id=account.id,
                         plan=f"{tier}/{term}/{limit}", charged_cents=invoice.total_cents if invoice else 0)
            events.account(account, "account.plan_changed")
            db.session.commit()
        return {"change": "upgrade", "invoice": invoice, "quote": fresh}
    account.pending_plan_tier, account.pending_plan_term, account.pending_contact_limit = tier, term, limit
    audit.record(actor, "plan_downgrade_scheduled", agency_id=account.agency_id, account_id=account.id,
                 plan=f"{tier}/{term}/{limit}", on=str(account.period_end))
    db.session.commit()
    return {"change": "downgrade", "effective": account.period_end, "quote": fresh}


def _start_paid(account: HostedAccount, quote: quotes.Quote, lines: list, request_key: str, actor) -> dict:
    """A paid plan from today, its first period charged now: a trial that becomes paid (its invoice a sign-up),
    or an expired account renewed (a reactivation, A5/A7)."""
    tier, term, limit = quote.subject["plan"]
    start, end = quote.effective, quote.renews_on
    reactivation = quote.change == "reactivation"
    invoice = billing.charge_now(
        agency_id=quote.subject["payer"], kind="reactivation" if reactivation else "signup", account=account,
        key=(keys.reactivation_invoice if reactivation else keys.trial_to_paid_invoice)(account.id, request_key),
        period=(start, end), lines=lines, discount_percent=quote.discount_percent)
    with billing.refunded_on_failure(invoice, "the plan could not be changed"):
        account.plan_tier, account.plan_term, account.contact_limit = tier, term, limit
        account.period_start, account.period_end, account.anchor_day = start, end, start.day
        account.status, account.expired_at, account.cancelled_at = "active", None, None
        account.pending_plan_tier = account.pending_plan_term = account.pending_contact_limit = None
        audit.record(actor, "account_renewed" if reactivation else "trial_converted", agency_id=account.agency_id,
                     account_id=account.id, plan=f"{tier}/{term}/{limit}", invoice=invoice.number)
        events.account(account, "account.plan_changed")
        db.session.commit()
    return {"change": "renewed" if reactivation else "trial_to_paid", "invoice": invoice, "quote": quote}


def renew(account: HostedAccount, *, tier: str, term: str, contact_limit, request_key: str,
          actor: audit.Actor, quote: str | None = None) -> dict:
    """A5, A7: "Renew" on an expired account (a trial, or a paid plan that was cancelled or lapsed): a paid
    plan from today, its first period charged now, on a reactivation invoice."""
    permissions.require(actor, "charge")
    if account.status != "expired":
        raise Conflict(str(_l("Only an expired account can be renewed; change its plan instead.")))
    return change_plan(account, tier=tier, term=term, contact_limit=contact_limit, request_key=request_key,
                       actor=actor, quote=quote)


def _refuse_if_billed_to_its_client(account: HostedAccount) -> None:
    """C1: a referred account pays its own way on its client's card; nothing about its plan or period is
    the agency's to change, and nothing of it may be charged to the agency's card."""
    if account.kind == "commission":
        raise Conflict(str(_l("%(name)s was referred through your link and is billed to its client: its plan and "
                              "renewals are the client's to change.", name=account.name)))
    if account.kind == "standalone":
        raise Conflict(str(_l("%(name)s was detached and is billed to its client, who changes its plan and "
                              "renews it.", name=account.name)))


# ---- A7: cancel ---------------------------------------------------------------------------------------

def cancel(account: HostedAccount, actor: audit.Actor) -> HostedAccount:
    permissions.require(actor, "manage_accounts")
    refuse_if_parent(account)
    if account.cancelled_at is not None or account.status == "cancelled":
        raise Conflict(str(_l("This account is already cancelled; it stays usable until %(day)s.",
                              day=format_date(account.period_end))))
    if account.status == "expired":
        raise Conflict(str(_l("This account has already expired.")))
    # A disabled account stays disabled (for abuse, unpaid, or by its agency): cancelling never opens it.
    account.cancelled_at = utcnow()
    if account.status != "disabled":
        account.status = "cancelled"
    audit.record(actor, "account_cancelled", agency_id=account.agency_id, account_id=account.id,
                 usable_until=str(account.period_end))
    provisioning.forget_credentials(account, reason="cancelled")  # A2: never shown on a cancelled account
    events.account(account, "account.cancelled")
    db.session.commit()
    return account


def resumable(account: HostedAccount, today: date | None = None) -> bool:
    """A cancellation can be undone until the paid period ends (the day it expires)."""
    today = today or date.today()
    return (account.cancelled_at is not None and account.status != "expired"
            and account.period_end is not None and account.period_end > today)


def resume(account: HostedAccount, actor: audit.Actor) -> HostedAccount:
    """A7: undoes a cancellation before the period ends: the account renews on its day again, as before; nothing
    is charged now. One conditional UPDATE, so a double press (or the expiry sweep at the same moment) resumes
    once or refuses."""
    permissions.require(actor, "manage_accounts")
    _payer(account, actor)  # the agency resumes its own accounts; a client its account that it pays for
    if account.cancelled_at is None:
        raise Conflict(str(_l("%(name)s is not cancelled: it renews on %(day)s.", name=account.name,
                              day=format_date(account.period_end))))
    today = date.today()
    if not resumable(account, today):
        raise Conflict(str(_l("%(name)s has expired: its paid period ended on %(day)s, so it can no longer be "
                              "resumed. Renew it instead.", name=account.name,
                              day=format_date(account.period_end))))
    resumed = db.session.execute(
        sa.update(HostedAccount).where(HostedAccount.id == account.id, HostedAccount.cancelled_at.is_not(None),
                                       HostedAccount.status != "expired", HostedAccount.period_end > today)
        # A disabled account stays disabled: only the cancellation is undone.
        .values(cancelled_at=None,
                status=sa.case((HostedAccount.status == "cancelled", "active"), else_=HostedAccount.status))
        .execution_options(synchronize_session=False)).rowcount
    if resumed != 1:
        db.session.rollback()
        db.session.refresh(account)
        raise Conflict(str(_l("%(name)s changed meanwhile: look at it again.", name=account.name)))
    audit.record(actor, "account_resumed", agency_id=account.agency_id, account_id=account.id,
                 renews_on=str(account.period_end))
    db.session.commit()
    db.session.refresh(account)
    return account


# ---- issue 22: the agency disables and enables an account itself ------------------------------------------

def _refuse_if_referred(account: HostedAccount, message) -> None:
    if account.kind == "commission":
        raise Conflict(str(message))


def _refuse_if_disabled_by_others(account: HostedAccount) -> None:
    """Disabled for abuse (support's to enable) or unpaid (a paid renewal enables it): not the agency's switch."""
    if account.disabled_reason == "abuse":
        raise Conflict(str(_l("Support disabled %(name)s because of an abuse report: only support enables it "
                              "again. Reply to the report or contact support.", name=account.name)))
    raise Conflict(str(_l("%(name)s is disabled because its renewal is unpaid: it is enabled again as soon as a "
                          "charge succeeds. Check the card in Billing profile.", name=account.name)))


def disable(account: HostedAccount, actor: audit.Actor) -> HostedAccount:
    """The agency closes the account to its client (the closed page, no login-as) until it enables it again.
    It goes on renewing on its day and being charged, as the seed bills paid and disabled accounts alike."""
    permissions.require(actor, "manage_accounts")
    refuse_if_parent(account)
    _refuse_if_referred(account, _l("%(name)s was referred through your link and is billed to its client: only "
                                    "support can disable it.", name=account.name))
    if account.status == "disabled":
        if account.disabled_reason == "agency":
            raise Conflict(str(_l("%(name)s is already disabled.", name=account.name)))
        _refuse_if_disabled_by_others(account)
    if account.status == "provisioning":
        raise Conflict(str(_l("%(name)s is still being set up: it cannot be disabled yet.", name=account.name)))
    if account.status == "expired":
        raise Conflict(str(_l("%(name)s has expired: there is nothing to disable.", name=account.name)))
    changed = db.session.execute(
        sa.update(HostedAccount).where(HostedAccount.id == account.id, HostedAccount.status == account.status,
                                       HostedAccount.status.in_(("active", "cancelled")))
        .values(status="disabled", disabled_at=utcnow(), disabled_reason="agency")
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        db.session.rollback()
        db.session.refresh(account)
        raise Conflict(str(_l("%(name)s changed meanwhile: look at it again.", name=account.name)))
    audit.record(actor, "account_disabled_agency", agency_id=account.agency_id, account_id=account.id,
                 was=account.status)
    events.account(account, "account.disabled")
    db.session.commit()
    db.session.refresh(account)
    return account


def enable(account: HostedAccount, actor: audit.Actor) -> HostedAccount:
    """Enables at once an account its agency disabled: active again (or cancelled, if it was). An account
    support disabled for abuse, or one disabled because its renewal is unpaid, is not the agency's to enable."""
    permissions.require(actor, "manage_accounts")
    if account.status != "disabled":
        raise Conflict(str(_l("%(name)s is not disabled.", name=account.name)))
    if account.disabled_reason != "agency":
        _refuse_if_disabled_by_others(account)
    changed = db.session.execute(
        sa.update(HostedAccount).where(HostedAccount.id == account.id, HostedAccount.status == "disabled",
                                       HostedAccount.disabled_reason == "agency")
        .values(status=sa.case((HostedAccount.cancelled_at.is_not(None), "cancelled"), else_="active"),
                disabled_at=None, disabled_reason=None)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        db.session.rollback()
        db.session.refresh(account)
        raise Conflict(str(_l("%(name)s changed meanwhile: look at it again.", name=account.name)))
    audit.record(actor, "account_enabled_agency", agency_id=account.agency_id, account_id=account.id)
    events.account(account, "account.enabled")
    db.session.commit()
    db.session.refresh(account)
    return account


# ---- issue 22: the client's details, edited after Add New -----------------------------------------------

def update_details(account: HostedAccount, details: ClientDetails, actor: audit.Actor) -> dict:
    """The client's name and e-mail, the notification e-mail, the language and the time zone, checked by Add
    New's rules; {field: (old, new)} of what changed, audited old -> new. The admin's e-mail follows the
    client's while it was the same (a reset goes to the address the agency corrected). The UPDATE applies only
    if nobody changed those fields meanwhile; a second press of the same form changes nothing."""
    permissions.require(actor, "manage_accounts")
    _refuse_if_referred(account, _l("%(name)s was referred through your link: its details are its client's "
                                    "to change.", name=account.name))
    for name in DETAIL_FIELDS:
        value = getattr(details, name)
        setattr(details, name, value.strip() if isinstance(value, str) else "")
    fields = details_problems(details)
    if fields:
        raise ValidationFailed(str(_l("The details were not saved; see the fields marked.")), fields)
    changes = {name: (getattr(account, name), getattr(details, name)) for name in DETAIL_FIELDS
               if getattr(account, name) != getattr(details, name)}
    if not changes:
        return {}
    unchanged_since = [getattr(HostedAccount, name) == old for name, (old, _new) in changes.items()]
    # search_text is the ORM's to keep (models/accounts.py) but a Core UPDATE skips the ORM: written here alike.
    domain_as_read = (HostedAccount.custom_domain.is_(None) if account.custom_domain is None
                      else HostedAccount.custom_domain == account.custom_domain)
    values = {name: new for name, (_old, new) in changes.items()}
    values["search_text"] = search_text_for(account.name, details.client_name, details.client_email,
                                            account.custom_domain)
    updated = db.session.execute(
        sa.update(HostedAccount).where(HostedAccount.id == account.id, domain_as_read, *unchanged_since)
        .values(**values).execution_options(synchronize_session=False)).rowcount
    if updated != 1:
        db.session.rollback()
        db.session.refresh(account)
        if all(getattr(account, name) == getattr(details, name) for name in DETAIL_FIELDS):
            return {}  # the same form, pressed twice: the first press saved it
        raise Conflict(str(_l("%(name)s's details changed meanwhile: look at them again.", name=account.name)))
    admin_followed = False
    if "client_email" in changes:
        old_email = changes["client_email"][0]
        admin_followed = db.session.execute(
            sa.update(AccountUser).where(AccountUser.account_id == account.id, AccountUser.username == "admin",
                                         sa.func.lower(AccountUser.email) == old_email.lower())
            .values(email=details.client_email).execution_options(synchronize_session=False)).rowcount == 1
    audit.record(actor, "account_details_changed", agency_id=account.agency_id, account_id=account.id,
                 changes={name: {"from": old, "to": new} for name, (old, new) in changes.items()},
                 admin_email_followed=admin_followed)
    db.session.commit()
    db.session.refresh(account)
    return changes


# ---- A7, B8: an account closed to its client ------------------------------------------------------------

# An expired account (its trial or paid period ended, A5/A7) and a disabled one (its renewal still unpaid
# after the grace period, B8) keep their content, but their client cannot use them until they are renewed
# or a charge succeeds; neither can the agency open them as `admin`.
CLOSED_STATUSES = ("expired", "disabled")


def closed_reason(account: HostedAccount | None) -> str | None:
    """"expired" or "disabled" when the account is closed to its client, else None."""
    return account.status if account is not None and account.status in CLOSED_STATUSES else None


def refuse_if_closed(account: HostedAccount) -> None:
    reason = closed_reason(account)
    if reason == "expired":
        raise Conflict(str(_l("%(name)s has expired, so it cannot be opened: renew it first. Until then its client "
                              "sees a page saying that it has expired.", name=account.name)))
    if reason == "disabled" and account.disabled_reason == "abuse":
        raise Conflict(str(_l("Support disabled %(name)s because of an abuse report, so it cannot be opened. Only "
                              "support enables it again: reply to the report or contact support.", name=account.name)))
    if reason == "disabled" and account.disabled_reason == "agency":
        raise Conflict(str(_l("You disabled %(name)s, so it cannot be opened: enable it first.", name=account.name)))
    if reason == "disabled":
        raise Conflict(str(_l("%(name)s is disabled because its renewal is unpaid, so it cannot be opened. It is "
                              "enabled again as soon as a charge succeeds: check the card in Billing profile.",
                              name=account.name)))


# ---- A5: trials --------------------------------------------------------------------------------------

def extend_trial(account: HostedAccount, actor: audit.Actor) -> dict:
    """The agency may extend a trial once; a further extension is a request to support."""
    permissions.require(actor, "manage_accounts")
    refuse_if_parent(account)
    _refuse_if_billed_to_its_client(account)
    if account.plan_term != "trial":
        raise ServiceError(str(_l("Only a trial can be extended.")))
    # The one extension the agency may give is claimed with a conditional UPDATE: two clicks at once
    # (or the dashboard and the API together) extend once, and the second becomes a request to support.
    first = account.trial_extensions == 0 and db.session.execute(
        sa.update(HostedAccount).where(HostedAccount.id == account.id, HostedAccount.trial_extensions == 0)
        .values(trial_extensions=1).execution_options(synchronize_session=False)).rowcount == 1
    if not first:
        db.session.rollback()
        db.session.refresh(account)
        open_request = db.session.scalar(sa.select(SupportRequest).where(
            SupportRequest.kind == "trial_extension", SupportRequest.account_id == account.id,
            SupportRequest.status == "open"))
        if open_request is not None:
            raise Conflict(str(_l("A request to extend this trial is already with support.")))
        request = SupportRequest(kind="trial_extension", status="open", agency_id=account.agency_id,
                                 account_id=account.id, subject=f"Extend the trial of {account.name} again",
                                 payload={"days": get_catalog().trial["extension_days"]})
        db.session.add(request)
        audit.record(actor, "trial_extension_requested", agency_id=account.agency_id, account_id=account.id)
        db.session.commit()
        return {"extended": False, "request": request}
    days = int(get_catalog().trial["extension_days"])
    base = max(account.period_end or date.today(), date.today())
    account.period_end = base + timedelta(days=days)
    account.trial_extensions = 1
    if account.status == "expired":
        account.status, account.expired_at = "active", None
    audit.record(actor, "trial_extended", agency_id=account.agency_id, account_id=account.id,
                 until=str(account.period_end))
    db.session.commit()
    return {"extended": True, "until": account.period_end}


def apply_trial_extension(account: HostedAccount, days: int) -> None:
    """Support's approval of a further extension (the console calls this)."""
    base = max(account.period_end or date.today(), date.today())
    account.period_end = base + timedelta(days=days)
    account.trial_extensions += 1
    if account.status == "expired":
        account.status, account.expired_at = "active", None
