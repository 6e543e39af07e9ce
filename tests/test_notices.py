"""N2: the notices the platform promises, each sent once, to the right address, in the reader's language,
and never to a resold account's client. Delivered over real SMTP (aiosmtpd) and parsed as multipart."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from itertools import count

import pytest
import sqlalchemy as sa

from webapp.models import Branding, HostedAccount, Invoice, OutboundEmail, Payout
from webapp.services import accounts, audit, keys, mail, notices, reminders, renewals, support

from .helpers import make_account, make_agency, make_support

TODAY = date.today()
_numbers = count(1)


def delivered(smtp_server, run_jobs, db):
    run_jobs()
    db.session.expire_all()
    return smtp_server.messages


def emails(db, kind):
    return list(db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.kind == kind).order_by(OutboundEmail.id)))


def paid_renewal(account, *, paid_at, total=2500, agency_id=None):
    n = next(_numbers)
    invoice = Invoice(agency_id=account.agency_id if agency_id is None else agency_id, account_id=account.id,
                      kind="renewal", status="paid", number=f"INV-T-{n:06d}", period_key=f"p{n}",
                      period_start=paid_at.date(), period_end=paid_at.date() + timedelta(days=30), currency="USD",
                      list_price_cents=total, total_cents=total, card_charged_cents=total,
                      idempotency_key=f"test-renewal-{n}", paid_at=paid_at)
    from webapp.extensions import db
    db.session.add(invoice)
    db.session.commit()
    return invoice


def brand(agency, account=None, **values):
    from webapp.extensions import db
    row = Branding(agency_id=agency.id, account_id=account.id if account else None,
                   **{"product_name": "MailPilot", "primary_color": "#aa3300", "support_email": "help@mailpilot.test",
                      "support_url": "https://mailpilot.test/help", **values})
    db.session.add(row)
    db.session.commit()
    return row


# ---- trials --------------------------------------------------------------------------------------------

def test_a_trial_ending_in_3_days_is_told_once_to_the_notification_email_and_again_after_an_extension(
        app, db, run_jobs, smtp_server):
    agency, _ = make_agency()
    trial = make_account(agency, "bakery", plan_term="trial", period_end=TODAY + timedelta(days=3),
                         notification_email="ops@agency.test", client_email="chef@bakery.test")
    make_account(agency, "later", plan_term="trial", period_end=TODAY + timedelta(days=4))
    assert reminders.send_trial_endings(TODAY) == 1
    assert reminders.send_trial_endings(TODAY) == 0  # a second sweep
    assert reminders.send_trial_endings(TODAY + timedelta(days=1)) == 1  # "later" now; bakery not again
    [message, _later] = delivered(smtp_server, run_jobs, db)
    assert message["to"] == ["ops@agency.test"] and message["subject"] == "The trial of bakery ends in 3 days"
    assert message["content_type"] == "multipart/alternative" and "bakery" in message["html"]
    assert f"/accounts/{trial.id}" in message["body"]
    assert not [m for m in smtp_server.messages if "chef@bakery.test" in m["to"]]  # never the client
    # An extension moves the end: the new end is told again, once.
    db.session.get(HostedAccount, trial.id).period_end = TODAY + timedelta(days=17)
    db.session.commit()
    assert reminders.send_trial_endings(TODAY + timedelta(days=14)) == 1
    assert reminders.send_trial_endings(TODAY + timedelta(days=15)) == 0


def test_trial_notices_are_in_the_agencys_notice_language(app, db, run_jobs, smtp_server):
    agency, _ = make_agency()
    agency.notice_language = "fr"
    db.session.commit()
    make_account(agency, "boulangerie", plan_term="trial", period_end=TODAY + timedelta(days=1),
                 notification_email="ops@agence.test")
    reminders.send_trial_endings(TODAY)
    [message] = delivered(smtp_server, run_jobs, db)
    assert message["subject"] == "L'essai du compte boulangerie se termine dans 1 jour"
    assert "L'essai du compte hébergé boulangerie" in message["body"]
    assert '<html lang="fr">' in message["html"]


def test_an_ended_trial_expires_with_its_notice_in_the_same_sweep_and_only_once(app, db, run_jobs, smtp_server):
    agency, _ = make_agency()
    trial = make_account(agency, "bakery", plan_term="trial", period_end=TODAY, notification_email="ops@agency.test")
    assert renewals.expire_ended(TODAY) == 1
    assert renewals.expire_ended(TODAY) == 0
    [message] = delivered(smtp_server, run_jobs, db)
    assert db.session.get(HostedAccount, trial.id).status == "expired"
    assert message["subject"] == "The trial of bakery has ended" and message["to"] == ["ops@agency.test"]
    assert len(emails(db, "trial_ended")) == 1


def test_a_cancelled_account_expires_at_its_period_end_and_the_agency_is_told(app, db, run_jobs, smtp_server):
    agency, _ = make_agency()
    account = make_account(agency, "florist", period_end=TODAY + timedelta(days=2), notification_email="ops@agency.test")
    accounts.cancel(account, audit.Actor.system())
    assert renewals.expire_ended(TODAY) == 0
    assert renewals.expire_ended(TODAY + timedelta(days=2)) == 1
    [message] = delivered(smtp_server, run_jobs, db)
    assert message["subject"] == "florist has expired"
    assert "cancelled and expired at the end of its paid period" in message["body"]


# ---- a referred client's own notices (C1) -------------------------------------------------------------------

def test_a_referred_clients_expiry_goes_to_the_client_under_the_accounts_brand_in_its_language(
        app, db, run_jobs, smtp_server):
    agency, _ = make_agency()
    account = make_account(agency, "bakery", kind="commission", period_end=TODAY, language="fr",
                           notification_email="chef@bakery.test", client_email="chef@bakery.test",
                           cancelled_at=datetime.now(timezone.utc))
    brand(agency)
    renewals.expire_ended(TODAY)
    [message] = delivered(smtp_server, run_jobs, db)
    assert message["to"] == ["chef@bakery.test"]
    assert message["from"] == "MailPilot <no-reply@agencyhq.localhost>"
    assert message["reply_to"] == "help@mailpilot.test"
    assert message["subject"] == "bakery a expiré"
    for part in (message["subject"], message["body"], message["html"], message["from"]):
        assert "AgencyHQ" not in part
    assert "#aa3300" in message["html"] and "MailPilot" in message["html"]
    assert "/accounts/" not in message["body"]  # no dashboard link for a client


def test_an_annual_renewal_is_announced_7_days_before_with_its_price_and_can_be_turned_off(
        app, db, run_jobs, smtp_server):
    agency, _ = make_agency()
    quiet, _ = make_agency("Quiet Agency")
    quiet.notify_upcoming = False
    db.session.commit()
    make_account(agency, "yearly", plan_term="annual", plan_tier="plus", contact_limit=1000,
                 period_end=TODAY + timedelta(days=7), notification_email="ops@agency.test")
    make_account(agency, "monthly", period_end=TODAY + timedelta(days=7))
    make_account(quiet, "hushed", plan_term="annual", period_end=TODAY + timedelta(days=7))
    assert reminders.send_upcoming_renewals(TODAY) == 1
    assert reminders.send_upcoming_renewals(TODAY + timedelta(days=1)) == 0
    [message] = delivered(smtp_server, run_jobs, db)
    assert message["to"] == ["ops@agency.test"]
    assert message["subject"].startswith("yearly renews on ")
    from webapp.catalog import get_catalog
    price = get_catalog().list_price_cents("plus", "annual", 1000)
    assert f"${price / 100:,.2f}" in message["body"]


# ---- receipts and the daily digest ------------------------------------------------------------------------------

def test_receipts_go_at_once_without_digests_and_not_at_all_when_turned_off(app, db, run_jobs, smtp_server):
    agency, _ = make_agency()
    agency.receipt_digest = False
    off, _ = make_agency("No Receipts")
    off.notify_receipts = False
    db.session.commit()
    now = datetime.now(timezone.utc)
    account = make_account(agency, "bakery", notification_email="ops@agency.test")
    invoice = paid_renewal(account, paid_at=now)
    silent = paid_renewal(make_account(off, "hushed"), paid_at=now)
    assert reminders.send_receipts(now) == 1
    assert reminders.send_receipts(now) == 0
    [message] = delivered(smtp_server, run_jobs, db)
    assert message["subject"] == f"Receipt {invoice.number}: bakery renewed" and message["to"] == ["ops@agency.test"]
    assert "$25.00" in message["body"] and f"/billing/invoices/{invoice.id}" in message["html"]
    assert db.session.get(Invoice, silent.id).receipt_at is not None  # marked, never sent


def test_with_digests_a_days_receipts_wait_for_the_day_and_more_than_5_make_one_digest(app, db, run_jobs, smtp_server):
    small, small_owner = make_agency("Small")
    big, big_owner = make_agency("Big")
    yesterday = datetime.now(timezone.utc) - timedelta(days=1)
    for n in range(3):
        paid_renewal(make_account(small, f"small-{n}", notification_email="small@agency.test"), paid_at=yesterday)
    for n in range(7):
        paid_renewal(make_account(big, f"big-{n}", notification_email="big@agency.test"), paid_at=yesterday)
    today = paid_renewal(make_account(big, "big-today"), paid_at=datetime.now(timezone.utc))
    assert reminders.send_receipts(yesterday.replace(hour=23, minute=59)) == 0  # the day is not over
    assert reminders.send_receipts() == 4  # 3 receipts + 1 digest
    assert reminders.send_receipts() == 0
    messages = delivered(smtp_server, run_jobs, db)
    assert sorted(m["to"][0] for m in messages) == [big_owner.email] + ["small@agency.test"] * 3
    digest = next(m for m in messages if m["to"] == [big_owner.email])
    assert digest["subject"].startswith("7 accounts renewed on ")
    assert all(f"big-{n}" in digest["body"] and f"big-{n}" in digest["html"] for n in range(7))
    assert db.session.get(Invoice, today.id).receipt_at is None  # today's wait for tomorrow


# ---- transfers -------------------------------------------------------------------------------------------------------

def test_an_account_transferred_away_is_told_to_the_losing_agency_and_the_decision_to_the_winner(
        app, db, run_jobs, smtp_server):
    losing, _ = make_agency("Losing")
    winning, winner = make_agency("Winning")
    account = make_account(losing, "bakery", notification_email="old@losing.test", admin_password="pw-123456789")
    admin = account.users[0]
    staff = make_support()
    request = support.request_transfer(winning.id, winner, account_name="bakery", admin_email=admin.email,
                                       actor=audit.Actor(f"user:{winner.id}", winner.email, None, winning.id, "owner"))
    db.session.execute(sa.update(type(request)).where(type(request).id == request.id).values(status="open"))
    db.session.commit()
    support.decide(request.id, approve=True, reason="", staff=staff, actor=audit.Actor(f"user:{staff.id}", staff.email))
    messages = delivered(smtp_server, run_jobs, db)
    away = [m for m in messages if m["to"] == ["old@losing.test"]]
    assert len(away) == 1 and away[0]["subject"] == "bakery was transferred to another agency"
    assert [m["subject"] for m in messages if m["to"] == [winner.email]] == ["The transfer of bakery was approved"]


# ---- payouts (C3) --------------------------------------------------------------------------------------------------------

def test_a_failed_payout_batch_tells_the_agency_with_paypals_reason_once(app, db, run_jobs, smtp_server):
    from webapp.adapters.payouts import PayoutResult
    from webapp.services import commission
    agency, owner = make_agency()
    agency.paypal_email = "agency@paypal.test"
    db.session.add(Payout(agency_id=agency.id, month="2026-11", amount_cents=4200, paypal_email="agency@paypal.test",
                          status="pending", batch_id="B-1"))
    db.session.commit()
    payout = db.session.scalar(sa.select(Payout))
    failed = PayoutResult(reference="B-1", amount_cents=4200, receiver="agency@paypal.test", status="failed",
                          item_reference="I-1", item_status="FAILED", reason="RECEIVER_UNREGISTERED")
    commission._record(agency, payout, failed)
    commission._record(agency, db.session.get(Payout, payout.id), failed)  # the sweeper's check asks again
    [message] = delivered(smtp_server, run_jobs, db)
    assert message["to"] == [owner.email] and message["subject"] == "Commission payout for 2026-11 failed"
    assert "RECEIVER_UNREGISTERED" in message["body"] and "$42.00" in message["body"]


# ---- the outbox's guarantees -----------------------------------------------------------------------------------------------

def test_two_writers_of_one_notice_at_once_write_one_email(app, db, monkeypatch):
    agency, _ = make_agency()
    account = make_account(agency, "bakery", plan_term="trial", period_end=TODAY + timedelta(days=2))
    key = keys.notice("trial_ending", account.id, account.period_end)
    first = notices.to_account(account, "trial_ending", {"ends_on": account.period_end, "days": 2,
                                                         "account_url": "http://x"}, key=key)
    db.session.commit()
    # The second writer looked before the first committed: its insert meets the unique key.
    real, looks = mail._by_key, []

    def first_look_misses(k):
        looks.append(k)
        return None if len(looks) == 1 else real(k)
    monkeypatch.setattr(mail, "_by_key", first_look_misses)
    second = notices.to_account(account, "trial_ending", {"ends_on": account.period_end, "days": 2,
                                                          "account_url": "http://x"}, key=key)
    assert second.id == first.id
    assert len(emails(db, "trial_ending")) == 1


def test_a_5xx_refusal_fails_the_email_with_the_servers_reply_and_is_not_retried(app, db, run_jobs, smtp_server):
    from webapp.models import Operation
    agency, _ = make_agency()
    make_account(agency, "bakery", plan_term="trial", period_end=TODAY + timedelta(days=1),
                 notification_email="full@agency.test")
    smtp_server.refuse = "552 5.2.2 Mailbox full"
    reminders.send_trial_endings(TODAY)
    run_jobs()
    db.session.expire_all()
    [email] = emails(db, "trial_ending")
    assert email.status == "failed" and email.last_error == "552 5.2.2 Mailbox full"
    op = db.session.scalar(sa.select(Operation).where(Operation.kind == "deliver_email"))
    assert op.status == "succeeded" and op.attempts == 1  # done: a refusal is final
    assert smtp_server.messages == []


def test_an_unreachable_server_is_retried_a_bounded_number_of_times_then_failed(app, db, monkeypatch):
    from webapp.models import Operation
    from webapp.services import operations
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", 9)  # nothing listens: connection refused
    monkeypatch.setitem(app.config, "OPERATION_MAX_ATTEMPTS", 3)
    agency, _ = make_agency()
    account = make_account(agency, "bakery", plan_term="trial", period_end=TODAY + timedelta(days=1))
    email = notices.to_account(account, "trial_ending", {"ends_on": account.period_end, "days": 1,
                                                         "account_url": "http://x"}, key="t")
    db.session.commit()
    op = db.session.scalar(sa.select(Operation).where(Operation.kind == "deliver_email"))
    for _ in range(3):
        operations.run(op.id)
        db.session.expire_all()
        db.session.execute(sa.update(Operation).where(Operation.id == op.id).values(run_after=None))
        db.session.commit()
    email = db.session.get(OutboundEmail, email.id)
    assert db.session.get(Operation, op.id).status == "failed"
    assert email.status == "failed" and email.attempts == 3 and "refused" in email.last_error.lower()


def test_a_brands_bad_colour_or_logo_address_falls_back_and_its_name_is_escaped_in_html(app, db):
    checked = mail.Brand(name="<b>Pilot</b>", color="red;background:url(x)", logo_url="javascript:alert(1)").checked()
    assert checked.color == mail.DEFAULT_COLOR and checked.logo_url is None
    _subject, text, html, _ = mail.render("trial_ending", locale="en", brand=checked, context={
        "account": type("A", (), {"name": "<i>x</i>", "client_name": "c"})(), "ends_on": TODAY, "days": 1,
        "account_url": "http://x"})
    assert "<b>Pilot</b>" not in html and "&lt;b&gt;Pilot&lt;/b&gt;" in html
    assert "&lt;i&gt;x&lt;/i&gt;" in html and "<i>x</i>" in text  # the text part is not HTML


@pytest.mark.parametrize("kind", ["trial_ending", "trial_ended", "account_expired", "upcoming_renewal",
                                  "renewal_receipt", "renewal_digest", "payout_failed", "account_transferred_away"])
def test_every_new_notice_has_both_parts_on_the_shared_layout(app, kind):
    from pathlib import Path
    root = Path(app.root_path).parent / "templates" / "email"
    assert 'extends "email/base.txt"' in (root / f"{kind}.txt").read_text()
    assert 'extends "email/base.html"' in (root / f"{kind}.html").read_text()


def test_support_sees_a_refused_email_with_the_servers_reply_and_opens_its_html_part_in_a_sandbox(
        app, db, client, run_jobs, smtp_server):
    from .helpers import login
    agency, _ = make_agency()
    make_account(agency, "bakery", plan_term="trial", period_end=TODAY + timedelta(days=1),
                 notification_email="full@agency.test")
    make_account(agency, "fine", plan_term="trial", period_end=TODAY + timedelta(days=2))
    smtp_server.refuse = "550 5.1.1 No such user"
    reminders.send_trial_endings(TODAY)
    run_jobs()
    make_support(email="staff@agencyhq.test")
    login(client, "staff@agencyhq.test")
    page = client.get("/support/outbox?status=failed").get_data(as_text=True)
    assert "550 5.1.1 No such user" in page and "The trial of bakery ends in 1 day" in page
    assert page.count("data-email=") == 2  # both were refused; the filter is in the URL
    db.session.expire_all()
    email = emails(db, "trial_ending")[0]
    html = client.get(f"/support/outbox/{email.id}/html")
    assert html.status_code == 200 and html.get_data(as_text=True) == email.body_html
    assert html.headers["Content-Security-Policy"].startswith("sandbox;")


def test_the_sweeper_tells_a_trial_3_days_before_its_end_and_when_it_has_ended_as_time_passes(
        app, db, run_jobs, smtp_server):
    """The whole sweeper, on a test clock: what a deployment's sweeper does day after day."""
    import time_machine

    from webapp.jobs import sweeper
    agency, _ = make_agency()
    start = datetime(2031, 5, 1, 9, 0, tzinfo=timezone.utc)
    with time_machine.travel(start, tick=False) as clock:
        make_account(agency, "bakery", plan_term="trial", period_start=date(2031, 4, 17), period_end=date(2031, 5, 5),
                     notification_email="ops@agency.test")
        seen = []
        for day in range(6):
            sweeper.sweep()
            sweeper.sweep()  # a second pass the same day sends nothing more
            seen.append([m["subject"] for m in delivered(smtp_server, run_jobs, db)[len(sum(seen, [])):]])
            clock.shift(timedelta(days=1))
    assert seen == [[], ["The trial of bakery ends in 3 days"], [], [], ["The trial of bakery has ended"], []]
    assert db.session.scalar(sa.select(HostedAccount.status).where(HostedAccount.name == "bakery")) == "expired"


def test_a_further_trial_extension_decided_by_support_is_told_with_the_new_end(app, db, run_jobs, smtp_server):
    agency, owner = make_agency()
    actor = audit.Actor(f"user:{owner.id}", owner.email, None, agency.id, "owner")
    trial = make_account(agency, "bakery", plan_term="trial", period_end=TODAY + timedelta(days=2),
                         notification_email="ops@agency.test")
    accounts.extend_trial(trial, actor)  # the first: by the agency itself
    request = accounts.extend_trial(db.session.get(HostedAccount, trial.id), actor)["request"]  # the next: support
    staff = make_support()
    support.decide(request.id, approve=True, reason="", staff=staff, actor=audit.Actor(f"user:{staff.id}", staff.email))
    [message] = [m for m in delivered(smtp_server, run_jobs, db) if "extension" in m["subject"]]
    end = db.session.get(HostedAccount, trial.id).period_end
    assert message["to"] == ["ops@agency.test"] and message["subject"] == "The trial extension of bakery was approved"
    assert f"{end:%b} {end.day}, {end.year}" in message["body"]
    assert [e.kind for e in emails(db, "trial_extension_decided")] == ["trial_extension_decided"]


def test_a_decline_is_told_in_the_readers_language_by_its_code(app, db):
    """The invoice keeps the gateway's decline code; the reason is said from it, not from its English text."""
    from flask_babel import force_locale

    from webapp.services import billing
    agency, _ = make_agency()
    account = make_account(agency, "bakery")
    invoice = paid_renewal(account, paid_at=datetime.now(timezone.utc))
    for name, value in billing.declined_values(invoice, "The card has insufficient funds.",
                                               "insufficient_funds").items():
        setattr(invoice, name, value)
    db.session.commit()
    assert invoice.decline_code == "insufficient_funds"
    with force_locale("fr"):
        assert str(billing.decline_reason(invoice)) == "La carte n'a pas les fonds suffisants."
    invoice.decline_code, invoice.last_error = None, "Do not honor (issuer)"  # an older decline: its own words
    assert billing.decline_reason(invoice) == "Do not honor (issuer)"
