"""Issue 22: no charge without its amount (a preview, then a Confirm of those very figures), an expired
account renewed on its own page as a reactivation, and credit bought into the agency's pool then assigned
to accounts, moved between them and back. Money checked to the cent, on SQLite and PostgreSQL alike."""
from __future__ import annotations

import re
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from webapp.models import CreditEntry, GatewayCall, HostedAccount, Invoice, utcnow
from webapp.services import accounts, billing, credits, quotes
from webapp.services.audit import Actor
from webapp.services.errors import NotFound, ValidationFailed

from .helpers import add_card, audited, confirm_change, confirm_purchase, csrf_token, login, make_account, make_agency
from .test_api import Api, new_token

ACTOR = Actor("user:0", "tests")
TODAY = date.today()


def _charges(db) -> list[int]:
    return list(db.session.scalars(sa.select(GatewayCall.amount_cents).where(
        GatewayCall.op == "charge", GatewayCall.outcome == "succeeded").order_by(GatewayCall.id)))


def _agency_with_discount(db, prepaid_cents: int = 0):
    """An agency with five paid accounts (10 % off, B5), a card and, if asked, prepaid credit in its pool."""
    agency, user = make_agency(email="owner@agency.test")
    add_card(agency)
    for i in range(5):
        make_account(agency, f"paid-{i}")
    if prepaid_cents:
        billing.buy_prepaid(agency.id, prepaid_cents, account=None, actor=ACTOR)
    return agency, user


# ---- no charge without its amount ------------------------------------------------------------------------

def test_an_upgrade_charges_to_the_cent_what_its_preview_said(db):
    agency, _ = _agency_with_discount(db, prepaid_cents=5000)
    account = make_account(agency, "growing", period_end=TODAY + timedelta(days=15))  # Plus monthly 1 000: 70.00
    quote = accounts.preview_change(account, tier="professional", term="monthly", contact_limit=1000, actor=ACTOR)
    # (187.00 - 70.00) / 30 a day, for the 15 days left: 58.50 listed, 10 % off, 50.00 of it prepaid.
    assert (quote.change, quote.days, quote.list_cents, quote.discount_percent) == ("upgrade", 15, 5850, 10)
    assert (quote.discount_cents, quote.today_cents, quote.prepaid_cents, quote.card_cents) == (585, 5265, 5000, 265)
    assert (quote.renewal_cents, quote.renews_on) == (16830, account.period_end)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice).where(Invoice.kind == "upgrade")) == 0
    result = accounts.change_plan(account, tier="professional", term="monthly", contact_limit=1000,
                                  request_key="up-1", actor=ACTOR, quote=quote.token)
    invoice = result["invoice"]
    assert (invoice.list_price_cents, invoice.discount_cents, invoice.total_cents) == (5850, 585, 5265)
    assert (invoice.prepaid_applied_cents, invoice.card_charged_cents) == (5000, 265)
    assert _charges(db)[-1] == 265 and billing.balance(agency.id, "prepaid") == 0


def test_a_stale_confirmation_is_refused_with_the_new_figures_and_charges_nothing(db):
    agency, _ = _agency_with_discount(db)
    account = make_account(agency, "growing", period_end=TODAY + timedelta(days=10))
    shown = accounts.preview_change(account, tier="professional", term="monthly", contact_limit=1000, actor=ACTOR)
    billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR)  # the balance changed since it was shown
    charges = _charges(db)
    with pytest.raises(quotes.StaleQuote) as stale:
        accounts.change_plan(account, tier="professional", term="monthly", contact_limit=1000, request_key="k",
                             actor=ACTOR, quote=shown.token)
    # 39.00 listed for 10 days, 10 % off: 35.10, all of it now from the prepaid credit, none on the card.
    assert (shown.prepaid_cents, shown.card_cents) == (0, 3510)
    assert stale.value.status == 409 and (stale.value.quote.prepaid_cents, stale.value.quote.card_cents) == (3510, 0)
    db.session.refresh(account)
    assert account.plan_tier == "plus" and _charges(db) == charges
    with pytest.raises(quotes.StaleQuote):  # nor a forged or empty token
        accounts.change_plan(account, tier="professional", term="monthly", contact_limit=1000, request_key="k",
                             actor=ACTOR, quote="")
    # The new figures, confirmed, are what is charged.
    result = accounts.change_plan(account, tier="professional", term="monthly", contact_limit=1000,
                                  request_key="k", actor=ACTOR, quote=stale.value.quote.token)
    assert (result["invoice"].prepaid_applied_cents, result["invoice"].card_charged_cents) == (3510, 0)


def test_a_preview_of_yesterday_is_stale_today(db, time_machine):
    """The days left in the period are part of the figures: the same page confirmed a day later is refused."""
    agency, _ = _agency_with_discount(db)
    account = make_account(agency, "growing", period_end=TODAY + timedelta(days=10))
    shown = accounts.preview_change(account, tier="professional", term="monthly", contact_limit=1000, actor=ACTOR)
    time_machine.move_to(utcnow() + timedelta(days=1), tick=False)
    with pytest.raises(quotes.StaleQuote) as stale:
        accounts.change_plan(account, tier="professional", term="monthly", contact_limit=1000, request_key="k",
                             actor=ACTOR, quote=shown.token)
    assert stale.value.quote.days == shown.days - 1


def test_a_downgrade_is_previewed_as_free_today_and_dearer_later(db):
    agency, _ = _agency_with_discount(db)
    account = make_account(agency, "shrinking", plan_tier="professional")
    quote = accounts.preview_change(account, tier="plus", term="monthly", contact_limit=1000, actor=ACTOR)
    assert (quote.change, quote.today_cents, quote.card_cents) == ("downgrade", 0, 0)
    assert (quote.renewal_cents, quote.effective) == (6300, account.period_end)


def test_the_page_shows_the_amount_and_charges_only_on_confirm(client, db):
    agency, _ = _agency_with_discount(db)
    account = make_account(agency, "growing", period_end=TODAY + timedelta(days=15))
    login(client, "owner@agency.test")
    shown = client.get(f"/accounts/{account.id}/change?tier=professional&term=monthly&contact_limit=1000")
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and 'id="quote-today">$52.65<' in html and 'id="quote-card">$52.65<' in html
    assert "Then $168.30 at each renewal" in html and "Confirm and pay $52.65" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice).where(Invoice.kind == "upgrade")) == 0
    # The htmx request (a select changed) gets the preview alone, and the URL keeps the choice.
    fragment = client.get(f"/accounts/{account.id}/change?tier=enterprise&term=monthly&contact_limit=1000",
                          headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True) and 'id="quote-today"' in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    html = client.get(f"/accounts/{account.id}/change?tier=professional&term=monthly&contact_limit=1000"
                      ).get_data(as_text=True)
    fields = dict(re.findall(r'<input[^>]*name="(plan-[a-z_]+|csrf_token)"[^>]*value="([^"]*)"', html))
    done = client.post(f"/accounts/{account.id}/plan", data=fields)
    assert done.status_code == 303
    assert "Charged now: $52.65" in client.get(done.headers["Location"]).get_data(as_text=True)
    # A second press of the same Confirm (a double click, Back and again) charges nothing more.
    again = client.post(f"/accounts/{account.id}/plan", data=fields)
    assert again.status_code == 422 and "This is already the account" in again.get_data(as_text=True)
    assert _charges(db).count(5265) == 1


def test_a_stale_confirm_on_the_page_shows_the_new_figures(client, db):
    agency, _ = _agency_with_discount(db)
    account = make_account(agency, "growing", period_end=TODAY + timedelta(days=15))
    login(client, "owner@agency.test")
    html = client.get(f"/accounts/{account.id}/change?tier=professional&term=monthly&contact_limit=1000"
                      ).get_data(as_text=True)
    fields = dict(re.findall(r'<input[^>]*name="(plan-[a-z_]+|csrf_token)"[^>]*value="([^"]*)"', html))
    billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR)
    refused = client.post(f"/accounts/{account.id}/plan", data=fields)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "The amount changed since it was shown" in page
    assert 'id="quote-prepaid">$50.00<' in page and 'id="quote-card">$2.65<' in page
    assert db.session.get(HostedAccount, account.id).plan_tier == "plus"


def test_a_concurrent_double_confirm_charges_once(app, db):
    agency, _ = _agency_with_discount(db)
    account = make_account(agency, "growing", period_end=TODAY + timedelta(days=15))
    quote = accounts.preview_change(account, tier="professional", term="monthly", contact_limit=1000, actor=ACTOR)
    outcomes = []

    def press():
        from webapp.extensions import db as _db
        with app.app_context():
            try:
                mine = _db.session.get(HostedAccount, account.id)
                outcomes.append(accounts.change_plan(mine, tier="professional", term="monthly", contact_limit=1000,
                                                     request_key="same-press", actor=ACTOR, quote=quote.token))
            except Exception as exc:  # noqa: BLE001 - the loser may see the plan already changed
                outcomes.append(exc)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=press) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    assert _charges(db).count(5265) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice).where(Invoice.kind == "upgrade")) == 1
    assert db.session.get(HostedAccount, account.id).plan_tier == "professional"
    assert all(isinstance(o, dict) or getattr(o, "status", 500) < 500 for o in outcomes), outcomes


# ---- renewing an expired account: its own page, a reactivation invoice ------------------------------------

def test_renew_of_an_expired_trial_is_a_reactivation_shown_first(client, db):
    agency, _ = _agency_with_discount(db)
    trial = make_account(agency, "old-trial", plan_term="trial", contact_limit=500, status="expired",
                         period_end=TODAY - timedelta(days=2), expired_at=utcnow())
    login(client, "owner@agency.test")
    resold = client.get("/?status=expired").get_data(as_text=True)
    assert f'href="/accounts/{trial.id}/change">Renew<' in resold
    page = client.get(f"/accounts/{trial.id}/change")  # the trial's tier, on a monthly plan, priced at once
    html = page.get_data(as_text=True)
    assert "Change your account" in html and "has expired. Choose the paid plan it renews on" in html
    assert 'id="quote-today">$44.10<' in html  # Plus monthly 500 contacts: 49.00, 10 % off
    done = confirm_change(client, trial.id, tier="plus", term="monthly", contact_limit=500)
    assert done.status_code == 303
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == trial.id))
    assert (invoice.kind, invoice.status, invoice.total_cents) == ("reactivation", "paid", 4410)
    assert invoice.lines[0].label["kind"] == "plan"
    assert "Reactivation" in client.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    db.session.refresh(trial)
    assert (trial.status, trial.plan_term, trial.period_start) == ("active", "monthly", TODAY)
    assert "account_renewed" in audited(db)


# ---- credit into the pool, then assigned ----------------------------------------------------------------

def test_credits_bought_into_the_pool_are_assigned_moved_and_given_back_each_move_in_the_ledger(db):
    agency, _ = make_agency(email="owner@agency.test")
    add_card(agency)
    bakery, florist = make_account(agency, "bakery"), make_account(agency, "florist")
    quote = billing.preview_pack(agency.id, None, "sms", "sms-2000")
    invoice = billing.buy_pack(agency.id, None, "sms", "sms-2000", actor=ACTOR, quote=quote.token)
    assert (invoice.total_cents, invoice.account_id, invoice.credits) == (quote.today_cents, None, 2000)
    assert billing.balance(agency.id, "sms") == 2000
    credits.move(agency.id, "sms", 1500, source=None, target=bakery, request_key="m1", actor=ACTOR)
    credits.move(agency.id, "sms", 500, source=bakery, target=florist, request_key="m2", actor=ACTOR)
    credits.move(agency.id, "sms", 200, source=florist, target=None, request_key="m3", actor=ACTOR)
    assert credits.move(agency.id, "sms", 200, source=florist, target=None, request_key="m3",
                        actor=ACTOR)["repeated"]  # the same press twice moves once
    assert (billing.balance(agency.id, "sms"), billing.balance(agency.id, "sms", bakery.id),
            billing.balance(agency.id, "sms", florist.id)) == (700, 1000, 300)
    moves = db.session.scalars(sa.select(CreditEntry.reason).where(CreditEntry.reason.like("Moved%"))
                               .order_by(CreditEntry.id)).all()
    assert moves == ["Moved to bakery", "Moved from the pool", "Moved to florist", "Moved from bakery",
                     "Moved to the pool", "Moved from florist"]
    assert db.session.scalar(sa.select(sa.func.sum(CreditEntry.delta)).where(CreditEntry.reason.like("Moved%"))) == 0
    prepaid = billing.preview_prepaid(agency.id, 5000)
    billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR, quote=prepaid.token)
    credits.move(agency.id, "prepaid", credits.parse_amount("prepaid", "12.50"), source=None, target=bakery,
                 request_key="m4", actor=ACTOR)
    assert (billing.balance(agency.id, "prepaid"), billing.balance(agency.id, "prepaid", bakery.id)) == (3750, 1250)
    assert "credit_moved" in audited(db)


def test_bad_moves_say_why_and_move_nothing(db):
    agency, _ = make_agency(email="owner@agency.test")
    other, _ = make_agency(email="other@agency.test")
    add_card(agency)
    plus, lite = make_account(agency, "plus-shop"), make_account(agency, "lite-shop", plan_tier="lite")
    expired = make_account(agency, "gone", status="expired", period_end=TODAY - timedelta(days=1))
    disabled = make_account(agency, "shut", status="disabled", disabled_reason="agency")
    theirs = make_account(other, "theirs")
    trial = make_account(agency, "sms-trial", plan_term="trial", contact_limit=500, plan_tier="professional")
    billing.buy_pack(agency.id, None, "sms", "sms-500", actor=ACTOR)

    def refused(amount, source, target, field):
        with pytest.raises(ValidationFailed) as exc:
            credits.move(agency.id, "sms", amount, source=source, target=target, request_key=f"k{amount}{field}",
                         actor=ACTOR)
        assert field in exc.value.fields, exc.value.fields
        return exc.value.fields[field]

    assert refused(501, None, plus, "amount") == "Your pool holds only 500: nothing was moved."
    assert "Lite plan, which cannot send SMS" in refused(10, None, lite, "target")
    assert "has expired" in refused(10, None, expired, "target")
    assert "is disabled" in refused(10, None, disabled, "target")
    assert "different account" in refused(10, None, None, "target")
    for typed in ("-5", "1.5", "0", "ten", ""):
        with pytest.raises(ValidationFailed) as exc:
            credits.parse_amount("sms", typed)
        assert "amount" in exc.value.fields
    with pytest.raises(NotFound):
        credits.move(agency.id, "sms", 10, source=None, target=theirs, request_key="x", actor=ACTOR)
    credits.move(agency.id, "sms", 10, source=None, target=trial, request_key="t", actor=ACTOR)  # an SMS tier's trial
    assert billing.balance(agency.id, "sms") == 490 and billing.balance(agency.id, "sms", theirs.id) == 0
    with pytest.raises(ValidationFailed):  # nor bought straight for a Lite account
        billing.preview_pack(agency.id, lite, "sms", "sms-500")


def test_concurrent_moves_never_take_the_pool_below_zero(app, db):
    agency, _ = make_agency(email="owner@agency.test")
    add_card(agency)
    billing.buy_pack(agency.id, None, "sms", "sms-500", actor=ACTOR)
    shops = [make_account(agency, f"shop-{i}") for i in range(8)]
    results = []

    def take(account_id, i):
        from webapp.extensions import db as _db
        with app.app_context():
            try:
                target = _db.session.get(HostedAccount, account_id)
                results.append(credits.move(agency.id, "sms", 100, source=None, target=target,
                                            request_key=f"c{i}", actor=ACTOR)["moved"])
            except ValidationFailed:
                results.append(0)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=take, args=(s.id, i)) for i, s in enumerate(shops)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    held = sum(billing.balance(agency.id, "sms", s.id) for s in shops)
    assert sorted(results, reverse=True)[:5] == [100] * 5 and sum(results) == 500
    assert held == 500 and billing.balance(agency.id, "sms") == 0


def test_the_credit_pages_buy_into_the_pool_then_assign(client, db):
    agency, _ = make_agency(email="owner@agency.test")
    add_card(agency)
    make_account(agency, "bakery")
    login(client, "owner@agency.test")
    preview, done = confirm_purchase(client, "/billing/sms", pack="sms-500", account="")
    assert 'id="quote-today">$20.00<' in preview.get_data(as_text=True) and done.status_code == 303
    page = client.get("/billing/sms").get_data(as_text=True)
    assert 'id="pool">500<' in page
    token = csrf_token(page)
    key = re.search(r'name="move-request_key" type="hidden" value="([^"]+)"', page).group(1)
    move = {"csrf_token": token, "move-kind": "sms", "move-request_key": key, "move-amount": "300",
            "move-source": "", "move-target": "bakery"}
    assert client.post("/billing/credits/move", data=move).status_code == 303
    assert client.post("/billing/credits/move", data=move).status_code == 303  # a double press moves once
    page = client.get("/billing/sms").get_data(as_text=True)
    assert 'id="pool">200<' in page and "bakery: 300" in page
    too_much = client.post("/billing/credits/move", data={**move, "move-request_key": "other", "move-amount": "999"})
    assert too_much.status_code == 422 and "Your pool holds only 200" in too_much.get_data(as_text=True)
    fraction = client.post("/billing/credits/move", data={**move, "move-request_key": "frac", "move-amount": "1.5"})
    assert fraction.status_code == 422 and "whole number of credits" in fraction.get_data(as_text=True)
    account_page = client.get(f"/accounts/{db.session.scalar(sa.select(HostedAccount.id).where(HostedAccount.name == 'bakery'))}")
    assert 'id="sms-balance">300<' in account_page.get_data(as_text=True)


# ---- the API: the same figures, the same rule ----------------------------------------------------------

def test_the_api_previews_the_same_figures_and_refuses_a_stale_quote(client, db):
    agency, user = _agency_with_discount(db)
    account = make_account(agency, "growing", period_end=TODAY + timedelta(days=15))
    api = Api(client, new_token(user))
    plan = {"tier": "professional", "term": "monthly", "contact_limit": 1000}
    quote = api.post(f"/accounts/{account.id}/plan/preview", json=plan).get_json()
    assert (quote["change"], quote["today_cents"], quote["card_cents"], quote["renewal_cents"]) == \
        ("upgrade", 5265, 5265, 16830)
    billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR)
    stale = api.post(f"/accounts/{account.id}/plan", json={**plan, "quote": quote["token"]})
    error = stale.get_json()["error"]
    assert stale.status_code == 409 and error["code"] == "quote_stale"
    assert (error["quote"]["prepaid_cents"], error["quote"]["card_cents"]) == (5000, 265)
    done = api.post(f"/accounts/{account.id}/plan", json={**plan, "quote": error["quote"]["token"]}).get_json()
    assert (done["invoice"]["total_cents"], done["invoice"]["prepaid_applied_cents"]) == (5265, 5000)
    assert api.post(f"/accounts/{account.id}/plan", json=plan).status_code == 422  # no quote: no charge
    # The pool: bought, assigned, and shown.
    pack = {"kind": "sms", "amount": 500}
    bought = api.confirmed("/credits/purchases", pack)
    assert bought.status_code == 201 and bought.get_json()["pool"]["sms"] == 500
    moved = api.post("/credits/moves", json={"kind": "sms", "amount": 200, "from_account_id": None,
                                             "to_account_id": account.id})
    assert moved.status_code == 201 and moved.get_json()["pool"]["sms"] == 300
    held = api.get("/credits").get_json()
    assert held["accounts"] == [{"account_id": account.id, "name": "growing",
                                 "credits": {"sms": 200, "compatibility": 0, "prepaid_cents": 0}}]
    other, _ = make_agency(email="rival@agency.test")
    theirs = make_account(other, "theirs")
    assert api.post("/credits/moves", json={"kind": "sms", "amount": 1, "from_account_id": None,
                                            "to_account_id": theirs.id}).status_code == 404
    over = api.post("/credits/moves", json={"kind": "sms", "amount": 301, "from_account_id": None,
                                            "to_account_id": account.id})
    assert over.status_code == 422 and "amount" in over.get_json()["error"]["fields"]


def test_the_parent_account_has_no_plan_to_change_cancel_disable_or_credit(db):
    from webapp.services.errors import Conflict
    agency, _ = make_agency(email="owner@agency.test")
    add_card(agency)
    parent = make_account(agency, "acme-hq", kind="parent")
    for call in (lambda: accounts.preview_change(parent, tier="professional", term="monthly", contact_limit=1000,
                                                 actor=ACTOR),
                 lambda: accounts.cancel(parent, ACTOR), lambda: accounts.disable(parent, ACTOR),
                 lambda: accounts.extend_trial(parent, ACTOR)):
        with pytest.raises(Conflict, match="parent account"):
            call()
    billing.buy_pack(agency.id, None, "sms", "sms-500", actor=ACTOR)
    with pytest.raises(ValidationFailed, match="parent account"):
        credits.move(agency.id, "sms", 10, source=None, target=parent, request_key="p", actor=ACTOR)
    db.session.refresh(parent)
    assert parent.cancelled_at is None and parent.status == "active"
