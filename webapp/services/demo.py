"""Demo data for `flask seed-demo`: one agency with 60 hosted accounts across every status,
plan type and tier, a support user, and a parent account (its admin's e-mail the owner's, opened from the
dashboard by login-as) with its templates and 3 automations whose e-mails send them."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa

from ..catalog import get_catalog
from ..extensions import db
from ..models import AccountUser, Agency, Automation, AutomationVersion, Branding, EmailTemplate, HostedAccount, User, utcnow
from . import billing, billing_details, operations, provisioning
from .audit import Actor
from .dates import add_months
from .passwords import hash_password

AGENCY_EMAIL = "demo@northwind.test"
AGENCY_PASSWORD = "northwind-demo-2026"
# A second member of the agency's team, with the Member role: no billing, no team, no API tokens.
MEMBER_EMAIL = "mia@northwind.test"
MEMBER_PASSWORD = "northwind-member-2026"
SUPPORT_EMAIL = "support@agencyhq.test"
SUPPORT_PASSWORD = "support-demo-2026"
CLIENT_ACCOUNT = "acme-bakery"
CLIENT_PASSWORD = "acme-demo-2026"
# The sandbox gateway's test Visa: every charge succeeds.
DEMO_CARD = "4242 4242 4242 4242"

CLIENTS = [
    "Acme Bakery", "Blue Harbor Yoga", "Cedar & Sage", "Dune Surf Shop", "Elm Street Dental", "Fjord Travel",
    "Golden Crust Pizza", "Hilltop Vets", "Iris Florist", "Juniper Books", "Kestrel Cycles", "Lumen Studio",
    "Maple Law", "Nimbus Cloud", "Olive Bistro", "Pine Ridge Farm", "Quartz Jewels", "Riverbend Spa",
    "Saffron Kitchen", "Tidewater Marine", "Umbra Photo", "Vista Realty", "Willow Kids", "Xenon Labs",
    "Yarrow Tea", "Zephyr Fitness", "Amber Coffee", "Birch Carpentry", "Coral Dive", "Delta Music",
    "Ember Candles", "Fern Garden", "Granite Gym", "Harbor Fish", "Indigo Print", "Jade Wellness",
    "Kite Toys", "Lark Bakery", "Mosaic Tiles", "Nova Tutoring", "Orchid Nails", "Pebble Shoes",
    "Quill Writers", "Robin Daycare", "Sierra Hikes", "Thistle Wool", "Upland Cider", "Velvet Salon",
    "Wren Ceramics", "Yonder Maps", "Zinnia Events", "Alder Clinic", "Bramble Jams", "Cobalt Web",
    "Dahlia Weddings", "Echo Podcasts", "Falcon Security", "Grove Market", "Heron Optics", "Ivy Tailors",
]
# (status, term) for the 60 accounts: every status and plan type appears.
MIX = ([("active", "monthly")] * 22 + [("active", "annual")] * 10 + [("active", "trial")] * 6
       + [("cancelled", "monthly")] * 3 + [("cancelled", "annual")] * 2 + [("disabled", "monthly")] * 3
       + [("disabled", "annual")] * 1 + [("expired", "trial")] * 6 + [("expired", "monthly")] * 3
       + [("expired", "annual")] * 2 + [("provisioning", "monthly")] * 2)

# The parent account's own templates: the messages its automations' e-mails send (P1).
PARENT_TEMPLATES = {
    "welcome": ("Welcome e-mail", "<h1>Welcome!</h1><p>Hello {{first_name}}, thank you for joining us.</p>"),
    "start": ("Getting started", "<h1>Getting started</h1><p>Three things to try this week.</p>"),
    "miss": ("We miss you", "<h1>We miss you</h1><p>Come back for 10% off your next order.</p>"),
    "birthday": ("Birthday coupon", "<h1>Happy birthday!</h1><p>15% off, this week only.</p>"),
}
# A send-e-mail step is ("send_email", subject, the PARENT_TEMPLATES key of its message).
AUTOMATIONS = [
    ("Welcome series", "subscribes", {"list": "Newsletter"}, [
        ("send_email", "Welcome to the family", "welcome"), {"type": "wait", "amount": 2, "unit": "days"},
        ("send_email", "Getting started", "start"), {"type": "add_tag", "tag": "onboarded"}]),
    ("Win back lapsed customers", "tag_added", {"tag": "lapsed"}, [
        ("send_email", "We miss you", "miss"), {"type": "wait", "amount": 7, "unit": "days"},
        {"type": "condition", "tag": "opened-last", "otherwise": "stop"}, {"type": "add_tag", "tag": "re-engaged"}]),
    ("Birthday coupon", "date_based", {"field": "birthday"}, [
        ("send_email", "Happy birthday: 15% off", "birthday"),
        {"type": "notify", "email": "team@northwind.test"}]),
]


def _steps(steps: list, parent_templates: dict[str, EmailTemplate]) -> list[dict]:
    """The demo's steps as stored: a send-e-mail step carries its message (its template's name and HTML)."""
    from .templates import sanitize_html
    out = []
    for step in steps:
        if isinstance(step, tuple):
            _kind, subject, key = step
            template = parent_templates[key]
            step = {"type": "send_email", "subject": subject, "from_name": "Northwind Digital",
                    "template_id": template.id, "template_name": template.name, "html": sanitize_html(template.html)}
        out.append(step)
    return out


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).replace("--", "-").strip("-")


def seed(rng: random.Random | None = None) -> dict:
    """Creates the demo data; refuses to run twice."""
    if db.session.scalar(sa.select(User.id).where(User.email == AGENCY_EMAIL)):
        raise RuntimeError("the demo data is already there")
    rng = rng or random.Random(2026)
    catalog = get_catalog()
    today = date.today()
    agency = Agency(name="Northwind Digital", referral_code="northwind", franchise_enabled=True,
                    currency=catalog.currency)
    db.session.add(agency)
    db.session.flush()
    db.session.add_all([
        User(email=AGENCY_EMAIL, name="Nora Northwind", password_hash=hash_password(AGENCY_PASSWORD),
             role="agency", team_role="owner", agency_id=agency.id, timezone="Europe/Paris", email_confirmed_at=utcnow()),
        User(email=MEMBER_EMAIL, name="Mia Member", password_hash=hash_password(MEMBER_PASSWORD),
             role="agency", team_role="member", agency_id=agency.id, timezone="Europe/Paris", email_confirmed_at=utcnow()),
        User(email=SUPPORT_EMAIL, name="Sam Support", password_hash=hash_password(SUPPORT_PASSWORD),
             role="support", email_confirmed_at=utcnow()),
        Branding(agency_id=agency.id, product_name="Northwind Mail", primary_color="#0b6e4f",
                 support_email="help@northwind.test", support_url="https://northwind.test/help",
                 login_headline="Welcome back", login_text="Sign in to send your next campaign."),
        EmailTemplate(agency_id=agency.id, kind="basic", name="Monthly newsletter", tags="newsletter",
                      html="<h1>Our news</h1><p>Hello {{first_name}},</p><p>Here is what is new.</p>"),
        EmailTemplate(agency_id=agency.id, kind="basic", name="Promotion", tags="sale,promo",
                      html="<h1>Sale</h1><p>20% off this week only.</p>"),
    ])
    db.session.commit()  # the gateway keeps its records on its own connection: nothing may hold a write lock
    # The card goes through the gateway like any agency's, so the demo agency can pay for what it adds.
    billing.save_card(agency.id, number=DEMO_CARD, exp_month=12, exp_year=today.year + 3, cvc="123",
                      actor=Actor("system:demo", "demo data"))
    # What its invoices are made out to (B4).
    billing_details.save(Actor("system:demo", "demo data"), agency.id, legal_name="Northwind Digital SAS",
                         address_line1="18 rue des Lilas", postal_code="75011", city="Paris", country="FR",
                         tax_id="FR40303265045")

    parent = HostedAccount(agency_id=agency.id, kind="parent", name="northwind", status="active",
                           plan_tier="enterprise", plan_term="monthly", contact_limit=100000,
                           client_name="Northwind Digital", client_email=AGENCY_EMAIL,
                           notification_email=AGENCY_EMAIL, language="en", timezone="Europe/Paris",
                           period_start=today.replace(day=1), period_end=add_months(today.replace(day=1), 1, 1),
                           anchor_day=1)
    db.session.add(parent)
    db.session.flush()
    parent_templates = {key: EmailTemplate(account_id=parent.id, kind="basic", name=name, tags="automation", html=html)
                        for key, (name, html) in PARENT_TEMPLATES.items()}
    db.session.add_all(parent_templates.values())
    db.session.flush()
    for name, trigger, config, steps in AUTOMATIONS:
        steps = _steps(steps, parent_templates)
        automation = Automation(account_id=parent.id, name=name, current_version=2)
        db.session.add(automation)
        db.session.flush()
        db.session.add_all([
            AutomationVersion(automation_id=automation.id, number=1, name=name, trigger_kind=trigger,
                              trigger_config=config, steps=steps[:-1]),
            AutomationVersion(automation_id=automation.id, number=2, name=name, trigger_kind=trigger,
                              trigger_config=config, steps=steps),
        ])

    tiers = catalog.tier_keys
    accounts = []
    for i, (client, (status, term)) in enumerate(zip(CLIENTS, MIX)):
        created = datetime.now(timezone.utc) - timedelta(days=rng.randint(20, 700), hours=rng.randint(0, 23))
        limits = [c for c in catalog.contact_limits if term != "trial" or c <= catalog.trial["max_contacts"]]
        start = created.date()
        account = HostedAccount(
            agency_id=agency.id, kind="resold", name=slug(client), status=status,
            plan_tier=tiers[i % len(tiers)] if term != "trial" else tiers[(i % 3) + 1],
            plan_term=term, contact_limit=rng.choice(limits), created_at=created,
            client_name=client, client_email=f"owner@{slug(client)}.test",
            notification_email="alerts@northwind.test", language=rng.choice(["en", "en", "fr"]),
            timezone=rng.choice(["Europe/Paris", "America/New_York", "Europe/London", "Asia/Tokyo"]),
            anchor_day=start.day,
        )
        if term == "trial":
            account.period_start = today - timedelta(days=rng.randint(1, 10) if status == "active" else 40)
            account.period_end = account.period_start + timedelta(days=catalog.trial["days"])
        else:
            months = catalog.term_months(term)
            period_start = start
            while add_months(period_start, months, start.day) <= today:
                period_start = add_months(period_start, months, start.day)
            if status == "expired":
                period_start = add_months(period_start, -months, start.day)
            account.period_start = period_start
            account.period_end = add_months(period_start, months, start.day)
        if status == "cancelled":
            account.cancelled_at = datetime.now(timezone.utc) - timedelta(days=rng.randint(1, 10))
        if status == "disabled":  # disabled after the grace period: enabled again by a paid renewal
            account.disabled_at = datetime.now(timezone.utc) - timedelta(days=rng.randint(1, 5))
            account.disabled_reason = "unpaid"
        if status == "expired":
            account.expired_at = datetime.combine(account.period_end, datetime.min.time(), timezone.utc)
        db.session.add(account)
        accounts.append(account)
    db.session.flush()

    final_status = {}
    for account in [parent, *accounts]:
        final_status[account.id] = account.status
        if account.status != "provisioning":
            account.status = "provisioning"  # provisioning makes it active; the real status is put back
        provisioning.submit(account)
    db.session.commit()
    # Run every provisioning now except the last two, left queued to show the background work.
    queued = [a for a in accounts if final_status[a.id] == "provisioning"]
    for account in [parent, *accounts]:
        if account in queued:
            continue
        operations.run_inline(provisioning.submit(account))
        db.session.refresh(account)
        account.status = final_status[account.id]
    db.session.commit()

    acme = next(a for a in accounts if a.name == CLIENT_ACCOUNT)
    admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == acme.id))
    admin.password_hash = hash_password(CLIENT_PASSWORD)
    # The generated password is no longer the account's: the account page must not show it (A2). The README
    # gives the demo one.
    provisioning.forget_credentials(acme, reason="demo_password")
    db.session.commit()

    # P2: one published pushdown, switched on in the active accounts, and one draft.
    from . import pushdown
    demo_actor = Actor("system:demo", "demo data")
    welcome, win_back = db.session.scalars(sa.select(Automation).where(Automation.account_id == parent.id)
                                           .order_by(Automation.id)).all()[:2]
    published = pushdown.create_draft(agency.id, [welcome.id], demo_actor)
    pushdown.select_matching(published, "")
    op = pushdown.publish(published, pushdown.ActivationInput("on_push"), demo_actor)
    operations.run_inline(op)
    draft = pushdown.create_draft(agency.id, [win_back.id], demo_actor)
    pushdown.select(draft, [a.id for a in accounts if a.status == "active"][:5])
    return {"agency": agency, "parent": parent, "accounts": accounts, "queued": queued}
