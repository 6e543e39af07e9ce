"""Issue 21: every e-mail is a template pair (text and HTML, multipart/alternative) in its reader's language,
received here by a real SMTP server (aiosmtpd) and parsed. A white-labelled account's client mail carries
the account's brand and never names AgencyHQ; what a user typed is escaped in the HTML part; support's
reply on a ticket is e-mailed once per reply, to the agency user who opened it.

The French expectations are the catalog's translations of the templates' sentences."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from webapp.models import Agency, Branding, Invoice, OutboundEmail, SupportRequest, User, utcnow
from webapp.services import agencies, client_auth, contact, gateway_events, operations, profile, provisioning
from webapp.services.accounts import login_as
from webapp.services.audit import Actor
from webapp.services.scope import AgencyScope

from .helpers import csrf_token, login, make_account, make_agency, make_member, make_support

STAFF = Actor("user:0", "staff@agencyhq.test")
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def both_parts(message: dict) -> dict:
    """The message is multipart/alternative with a text part and a whole HTML document."""
    assert message["content_type"] == "multipart/alternative"
    assert message["body"].strip()
    assert message["html"] and message["html"].lstrip().lower().startswith("<!doctype html>")
    return message


def received(smtp_server, to: str | None = None) -> list[dict]:
    """The messages to `to` (all of them without), their parts' line ends made "\\n"."""
    for m in smtp_server.messages:
        for part in ("body", "html"):
            if m[part]:
                m[part] = m[part].replace("\r\n", "\n")
    return [m for m in smtp_server.messages if to is None or m["to"] == [to]]


def only(smtp_server, to: str) -> dict:
    [message] = received(smtp_server, to)
    return both_parts(message)


def french(user: User) -> User:
    from webapp.extensions import db
    user.language = "fr"
    db.session.commit()
    return user


def set_agency_language(agency: Agency, language: str = "fr") -> Agency:
    from webapp.extensions import db
    agency.notice_language = language
    db.session.commit()
    return agency


def all_headers(message: dict) -> str:
    return "\n".join(f"{name}: {value}" for name, value in message["message"].items())


# ---- the client's password reset (W5): branded, on the account's host, never AgencyHQ ----------------------------

@pytest.fixture
def bloom(db):
    """A white-labelled account on its own verified domain, with a logo and a support e-mail."""
    agency, _owner = make_agency("Acme Agency", email="owner@agency.test")
    account = make_account(agency, "bloom", admin_password="right-password-1", client_email="boss@bloom.test",
                           custom_domain="mail.bloom.test", custom_domain_verified_at=utcnow())
    db.session.add(Branding(agency_id=agency.id, account_id=account.id, product_name="Bloom Mail", logo=PNG,
                            logo_mime="image/png", primary_color="#aa3377", support_email="help@bloom.test",
                            support_url="https://bloom.test/help"))
    db.session.commit()
    return account


def ask_client_reset(client, host: str, email: str):
    page = client.get("/app/forgot", base_url=host)
    return client.post("/app/forgot", base_url=host, data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                          "email": email})


def test_a_white_labelled_reset_email_carries_the_brand_and_never_names_agencyhq(client, db, bloom, run_jobs,
                                                                                  smtp_server):
    assert ask_client_reset(client, "http://mail.bloom.test", "boss@bloom.test").status_code == 200
    run_jobs()
    message = only(smtp_server, "boss@bloom.test")
    assert message["subject"] == "Reset your password"
    display, address = re.match(r'"?([^"<]*)"?\s*<([^>]+)>', message["from"]).groups()
    assert display.strip() == "Bloom Mail" and address == "no-reply@agencyhq.localhost"  # MAIL_FROM's address
    assert message["reply_to"] == "help@bloom.test"
    for part in (message["subject"], message["body"], message["html"], all_headers(message)):
        assert "AgencyHQ" not in part
    assert "Bloom Mail" in message["body"] and "Bloom Mail" in message["html"]
    links = re.findall(r"https?://[^\s\"'<>]+/app/reset/[^\s\"'<>]+", message["body"] + message["html"])
    assert links and all(link.startswith("http://mail.bloom.test/app/reset/") for link in links)
    assert 'src="http://mail.bloom.test/app/logo"' in message["html"]
    assert "#aa3377" in message["html"]
    assert "Someone asked to reset the password of the account bloom." in message["body"]
    # The link works on the account's host.
    token = re.search(r"/app/reset/(\S+)", message["body"]).group(1)
    assert client.get(f"/app/reset/{token}", base_url="http://mail.bloom.test").status_code == 200


def test_the_client_reset_is_in_the_accounts_language(client, db, bloom, run_jobs, smtp_server):
    bloom.language = "fr"
    db.session.commit()
    ask_client_reset(client, "http://mail.bloom.test", "boss@bloom.test")
    run_jobs()
    message = only(smtp_server, "boss@bloom.test")
    assert message["subject"] == "Réinitialisez votre mot de passe"
    for part in (message["body"], message["html"]):
        assert "Quelqu'un a demandé à réinitialiser le mot de passe du compte bloom." in part.replace("&#39;", "'")
        assert "AgencyHQ" not in part
    assert "Si ce n'était pas vous, ignorez cet e-mail" in message["body"]
    assert 'lang="fr"' in message["html"]


def test_an_unbranded_accounts_reset_is_still_not_agencyhqs(db, run_jobs, smtp_server):
    agency, _ = make_agency()
    account = make_account(agency, "plain", admin_password="right-password-1", client_email="me@plain.test")
    client_auth.send_reset(account, account.users[0])
    run_jobs()
    message = only(smtp_server, "me@plain.test")
    assert "plain" in message["from"]
    for part in (message["subject"], message["body"], message["html"], all_headers(message)):
        assert "AgencyHQ" not in part
    assert "http://plain.localhost/app/reset/" in message["body"]


# ---- a dashboard user's own e-mail: the user's language ---------------------------------------------------------

def forgot(client, email):
    page = client.get("/forgot")
    return client.post("/forgot", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                 "email": email})


def test_the_dashboard_reset_is_multipart_and_in_the_users_language(app, client, db, run_jobs, smtp_server):
    _agency, owner = make_agency(email="owner@agency.test")
    forgot(client, "owner@agency.test")
    run_jobs()
    english = only(smtp_server, "owner@agency.test")
    assert english["subject"] == "Reset your AgencyHQ password"
    assert "http://localhost/reset-password/" in english["body"] and "60 minutes" in english["body"]
    french(owner)
    smtp_server.messages.clear()
    forgot(client, "owner@agency.test")
    run_jobs()
    message = only(smtp_server, "owner@agency.test")
    assert message["subject"] == "Réinitialisez votre mot de passe AgencyHQ"
    assert "Quelqu'un a demandé à réinitialiser le mot de passe de votre identifiant AgencyHQ owner@agency.test." \
        in message["body"]
    assert "pendant 60 minutes" in message["body"] and "pendant 60 minutes" in message["html"]
    assert 'lang="fr"' in message["html"]


def test_a_support_reset_of_two_factor_tells_the_user_in_their_language(db, run_jobs, smtp_server):
    agency, owner = make_agency(email="owner@agency.test")
    french(owner)
    owner.totp_secret, owner.totp_enabled_at = "JBSWY3DPEHPK3PXP", utcnow()
    db.session.commit()
    agencies.reset_two_factor(agency.id, owner.id, STAFF)
    run_jobs()
    message = only(smtp_server, "owner@agency.test")
    assert message["subject"] == "La connexion en deux étapes a été réinitialisée sur votre identifiant AgencyHQ"
    assert "Le support a désactivé la connexion en deux étapes" in message["body"]
    assert "http://localhost/my-account" in message["body"] and 'href="http://localhost/my-account"' in message["html"]


def test_an_email_change_sends_three_emails_in_the_users_language(db, run_jobs, smtp_server):
    _agency, owner = make_agency(email="owner@agency.test")
    french(owner)
    actor = Actor(f"user:{owner.id}", owner.email, None, owner.agency_id)
    profile.request_email_change(owner, "New@Agency.test", actor)
    run_jobs()
    confirm = only(smtp_server, "new@agency.test")
    told = only(smtp_server, "owner@agency.test")
    assert confirm["subject"] == "Confirmez votre nouvel e-mail AgencyHQ"
    assert "Confirmez-la ici (le lien ne fonctionne qu'une fois, pendant 24 heures) :" in confirm["body"]
    assert told["subject"] == "Votre e-mail AgencyHQ va changer"
    assert "a demandé à remplacer l'e-mail de l'identifiant par new@agency.test." in told["body"]
    token = re.search(r"http://localhost/my-account/email/(\S+)", confirm["body"]).group(1)
    profile.confirm_email_change(token, ip=None)
    run_jobs()
    [changed] = [m for m in received(smtp_server, "owner@agency.test") if m is not told]
    both_parts(changed)
    assert changed["subject"] == "Votre e-mail AgencyHQ a été modifié"
    assert "L'identifiant AgencyHQ qui utilisait owner@agency.test utilise désormais new@agency.test." \
        in changed["body"]


# ---- joining: the owner's language becomes the agency's; support's e-mail in the default language --------------

def sign_up(client, language: str):
    page = client.get("/signup").get_data(as_text=True)
    return client.post("/signup", data={
        "csrf_token": csrf_token(page), "agency_name": "Agence <Nord>", "name": "Nora North",
        "email": "nora@nord.test", "password": "a-long-enough-passphrase-42", "timezone": "Europe/Paris",
        "language": language})


def test_a_french_sign_up_makes_a_french_agency_and_every_step_is_told_in_french(app, client, db, run_jobs,
                                                                                   smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "AGENCY_SIGNUP", "approval")
    monkeypatch.setitem(app.config, "SUPPORT_EMAIL", "helpdesk@agencyhq.test")
    assert sign_up(client, "fr").status_code == 201
    agency = db.session.scalar(sa.select(Agency).where(Agency.name == "Agence <Nord>"))
    assert agency.notice_language == "fr"
    run_jobs()
    confirm = only(smtp_server, "nora@nord.test")
    assert confirm["subject"] == "Confirmez votre e-mail pour ouvrir votre tableau de bord AgencyHQ"
    assert "Bonjour Nora North," in confirm["body"]
    assert "terminer l'inscription de votre agence Agence <Nord> :" in confirm["body"]
    assert "Agence &lt;Nord&gt;" in confirm["html"] and "Agence <Nord>" not in confirm["html"]
    path = re.search(r"http://localhost(/signup/confirm/\S+)", confirm["body"]).group(1)
    page = client.get(path).get_data(as_text=True)
    assert client.post(path, data={"csrf_token": csrf_token(page)}).status_code == 200
    run_jobs()
    application = only(smtp_server, "helpdesk@agencyhq.test")  # support reads the default language
    assert application["subject"] == "New agency waiting for approval: Agence <Nord>"
    assert "signed up and confirmed its e-mail" in application["body"]
    assert "/support/agencies?state=awaiting_approval" in application["body"]

    db.session.expire_all()
    assert agency.state == "awaiting_approval"
    agencies.decide_application(agency.id, approve=True, reason="", actor=STAFF)
    run_jobs()
    approved = both_parts(received(smtp_server, "nora@nord.test")[-1])
    assert approved["subject"] == "Agence <Nord> est ouverte sur AgencyHQ"
    assert "Votre agence Agence <Nord> a été approuvée. Connectez-vous :" in approved["body"]
    assert "http://localhost/login" in approved["body"]

    agencies.suspend(agency.id, reason="Factures <impayées>", actor=STAFF)
    run_jobs()
    suspended = both_parts(received(smtp_server, "nora@nord.test")[-1])
    assert suspended["subject"] == "Agence <Nord> est suspendue sur AgencyHQ"
    assert "a été suspendue : Factures <impayées>" in suspended["body"]
    assert "Factures &lt;impayées&gt;" in suspended["html"]
    assert "Les comptes de vos clients continuent de fonctionner." in suspended["body"]

    agencies.reactivate(agency.id, actor=STAFF)
    run_jobs()
    reactivated = both_parts(received(smtp_server, "nora@nord.test")[-1])
    assert reactivated["subject"] == "Agence <Nord> est de nouveau ouverte sur AgencyHQ"
    assert "peut de nouveau se connecter" in reactivated["body"]
    assert len(received(smtp_server, "nora@nord.test")) == 4


def test_an_english_sign_up_keeps_english_notices(client, db, run_jobs, smtp_server):
    sign_up(client, "en")
    assert db.session.scalar(sa.select(Agency.notice_language).where(Agency.name == "Agence <Nord>")) == "en"
    run_jobs()
    message = only(smtp_server, "nora@nord.test")
    assert message["subject"] == "Confirm your e-mail to open your AgencyHQ dashboard"
    assert "Hello Nora North," in message["body"] and "for 24 hours" in message["body"]


def test_a_rejected_application_is_told_in_the_owners_language(db, run_jobs, smtp_server):
    agency, owner = make_agency("Applicant Co", email="applicant@agency.test")
    french(owner)
    agency.state = "awaiting_approval"
    db.session.commit()
    agencies.decide_application(agency.id, approve=False, reason="Nous n'avons pas pu vérifier l'agence.",
                                actor=STAFF)
    run_jobs()
    message = only(smtp_server, "applicant@agency.test")
    assert message["subject"] == "Votre demande AgencyHQ pour Applicant Co"
    assert "Votre demande pour Applicant Co n'a pas été approuvée : Nous n'avons pas pu vérifier" in message["body"]


def test_an_agency_created_by_support_emails_its_owner_a_password_link(db, run_jobs, smtp_server):
    agencies.create(name="Made By Support", owner_email="made@agency.test", owner_name="Mo", actor=STAFF)
    run_jobs()
    message = only(smtp_server, "made@agency.test")
    assert message["subject"] == "Your AgencyHQ dashboard for Made By Support"
    assert re.search(r"http://localhost/set-password/\S+", message["body"])
    assert 'href="http://localhost/set-password/' in message["html"]


# ---- the account is ready (A2): the agency's notice language, the client's brand for a referred account ----------

def provision(db, account):
    op = provisioning.submit(account)
    db.session.commit()
    operations.enqueue(op)


def test_account_ready_goes_to_the_agency_in_its_notice_language(db, run_jobs, smtp_server):
    agency, _ = make_agency(email="owner@agency.test")
    set_agency_language(agency, "fr")
    account = make_account(agency, "bakery", status="provisioning", notification_email="ops@agency.test",
                           client_email="client@bakery.test", client_name="Boulangerie <Paul>")
    provision(db, account)
    run_jobs()
    message = only(smtp_server, "ops@agency.test")
    assert not received(smtp_server, "client@bakery.test")
    assert message["subject"] == "Le compte hébergé bakery est prêt"
    assert "Le compte hébergé bakery (Boulangerie <Paul>) est prêt." in message["body"]
    assert "Boulangerie &lt;Paul&gt;" in message["html"]
    assert "Adresse de connexion : http://bakery.localhost/app/login" in message["body"]
    assert "Rien n'a été envoyé à votre client." in message["body"]


def test_account_ready_for_a_referred_client_is_branded_and_never_names_agencyhq(db, run_jobs, smtp_server):
    agency, _ = make_agency(email="owner@agency.test")
    account = make_account(agency, "florist", kind="commission", status="provisioning",
                           notification_email="owner@florist.test", client_email="owner@florist.test")
    db.session.add(Branding(agency_id=agency.id, account_id=None, product_name="Petal Mail",
                            support_email="care@petal.test"))
    db.session.commit()
    provision(db, account)
    run_jobs()
    message = only(smtp_server, "owner@florist.test")
    assert message["subject"] == "Your account florist is ready"
    assert "Petal Mail" in message["from"] and message["reply_to"] == "care@petal.test"
    for part in (message["subject"], message["body"], message["html"], all_headers(message)):
        assert "AgencyHQ" not in part and "dashboard" not in part
    assert "http://florist.localhost/app/login" in message["body"]


# ---- contact support (S3): the ticket to support, support's reply to the opener ----------------------------------

@pytest.fixture
def northwind(db):
    agency, user = make_agency("Northwind", email="nora@agency.test")
    make_account(agency, "bakery")
    return agency, user


def open_ticket(client, subject="Renewal question", message="Why was bakery charged twice?", account="bakery"):
    page = client.get("/contact")
    return client.post("/contact", data={"csrf_token": csrf_token(page.get_data(as_text=True)), "subject": subject,
                                         "message": message, "account": account})


def chat(client, base, ticket_id, body):
    page = client.get(f"{base}/{ticket_id}")
    return client.post(f"{base}/{ticket_id}/messages", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                              "chat-body": body, "after": 0})


def test_a_ticket_reaches_support_with_the_agencys_words_escaped_in_html(app, client, db, northwind, run_jobs,
                                                                          smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "SUPPORT_EMAIL", "helpdesk@agencyhq.test")
    french(northwind[1])  # support reads its inbox in the default language, whoever writes
    login(client, "nora@agency.test")
    typed = "Look: <script>alert('x')</script>\nand <b>bold</b> & more"
    assert open_ticket(client, subject="<img src=x onerror=alert(1)>", message=typed).status_code == 303
    run_jobs()
    ticket = db.session.scalars(sa.select(SupportRequest)).one()
    message = only(smtp_server, "helpdesk@agencyhq.test")
    assert message["subject"] == f"[Ticket {ticket.id}] <img src=x onerror=alert(1)>"
    assert typed in message["body"]  # the text part is not HTML: as typed
    assert "Agency: Northwind" in message["body"] and "Account: bakery" in message["body"]
    assert f"From: {northwind[1].name} <nora@agency.test>" in message["body"]
    html = message["html"]
    assert "<script>" not in html and "<b>bold</b>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html and "&amp; more" in html
    assert "&lt;nora@agency.test&gt;" in html
    assert f'href="http://localhost/support/contact/{ticket.id}"' in html


def test_each_support_reply_is_emailed_once_to_the_opener_only_in_their_language(app, db, northwind, run_jobs,
                                                                                  smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "SUPPORT_EMAIL", "helpdesk@agencyhq.test")
    agency, opener = northwind
    french(opener)
    colleague = make_member(agency, email="colleague@agency.test")
    staff = make_support("staff@agencyhq.test")
    agency_client, staff_client = app.test_client(), app.test_client()
    login(agency_client, "nora@agency.test")
    login(staff_client, staff.email)
    open_ticket(agency_client)
    ticket = db.session.scalars(sa.select(SupportRequest)).one()
    run_jobs()
    assert len(received(smtp_server, "helpdesk@agencyhq.test")) == 1
    smtp_server.messages.clear()

    assert chat(staff_client, "/support/contact", ticket.id, "We refunded it.\n<script>x()</script>").status_code == 303
    run_jobs()
    run_jobs()  # a second worker pass sends nothing more
    reply = only(smtp_server, "nora@agency.test")
    assert reply["subject"] == f"Le support a répondu à votre ticket {ticket.id} : Renewal question"
    assert f"Staff, de notre équipe de support, a répondu à votre ticket {ticket.id}" in reply["body"]
    assert "We refunded it.\n<script>x()</script>" in reply["body"]
    assert "&lt;script&gt;x()&lt;/script&gt;" in reply["html"] and "<script>" not in reply["html"]
    assert f"http://localhost/contact/{ticket.id}" in reply["body"]
    assert f'href="http://localhost/contact/{ticket.id}"' in reply["html"]

    # The agency's own lines e-mail nobody; a colleague's neither.
    assert chat(agency_client, "/contact", ticket.id, "Thanks! One more thing.").status_code == 303
    colleague_client = app.test_client()
    login(colleague_client, colleague.email)
    assert chat(colleague_client, "/contact", ticket.id, "Me too.").status_code == 303
    run_jobs()
    assert len(smtp_server.messages) == 1

    # A second reply is a second e-mail, to the opener again.
    assert chat(staff_client, "/support/contact", ticket.id, "Done.").status_code == 303
    run_jobs()
    replies = received(smtp_server, "nora@agency.test")
    assert len(replies) == 2 and len(smtp_server.messages) == 2
    assert "Done." in replies[-1]["body"]
    assert not received(smtp_server, "helpdesk@agencyhq.test") and not received(smtp_server, staff.email)
    assert not received(smtp_server, "colleague@agency.test")
    keys_sent = db.session.scalars(sa.select(OutboundEmail.dedupe_key).where(OutboundEmail.kind == "ticket_reply")).all()
    assert len(keys_sent) == len(set(keys_sent)) == 2


def test_a_reply_is_keyed_by_its_message_so_a_retry_sends_it_once(db, northwind, run_jobs, smtp_server):
    agency, opener = northwind
    staff = make_support()
    ticket = contact.open_ticket(AgencyScope(agency.id), opener, subject="Hi", message="Hello",
                                 account_name=None, actor=Actor(f"user:{opener.id}", opener.email))
    message = contact.post_message(ticket, staff, "Hello back")
    assert contact._email_opener(ticket, staff, message).id == db.session.scalar(
        sa.select(OutboundEmail.id).where(OutboundEmail.kind == "ticket_reply"))  # the same e-mail, not a new one
    db.session.commit()
    run_jobs()
    assert len(received(smtp_server, opener.email)) == 1


# ---- the card processor's dispute: the agency's notice e-mail, in its language -------------------------------------

class StubStripe:
    """What the Stripe adapter gives receive_stripe once the signature is checked: the event."""
    sends_events = True

    def __init__(self, event):
        self.event = event

    def parse_event(self, payload, signature):
        return self.event


def test_a_dispute_tells_the_agency_once_in_its_notice_language(app, db, run_jobs, smtp_server, monkeypatch):
    agency, _owner = make_agency(email="owner@agency.test")
    agency.notice_email = "billing@agency.test"
    set_agency_language(agency, "fr")
    invoice = Invoice(agency_id=agency.id, kind="signup", status="paid", number="AHQ-000042", currency="USD",
                      total_cents=5000, card_charged_cents=5000, idempotency_key="signup:test",
                      gateway_charge_id="pi_42")
    db.session.add(invoice)
    db.session.commit()
    dispute = {"object": "dispute", "id": "dp_1", "payment_intent": "pi_42", "amount": 5000,
               "status": "needs_response", "reason": "fraudulent"}
    for event_id in ("evt_1", "evt_2"):  # Stripe's retry under a new id: one e-mail
        monkeypatch.setitem(app.extensions, "payment_gateway", StubStripe(
            {"id": event_id, "type": "charge.dispute.created", "data": {"object": dispute}}))
        assert gateway_events.receive_stripe(b"{}", "sig").status == 200
    run_jobs()
    message = only(smtp_server, "billing@agency.test")
    assert not received(smtp_server, "owner@agency.test")
    assert message["subject"].startswith("Un paiement de ") and "(facture AHQ-000042)" in message["subject"]
    assert "50,00" in message["subject"]  # money in the reader's language
    assert "motif : fraudulent." in message["body"]
    assert f"http://localhost/billing/invoices/{invoice.id}" in message["body"]


# ---- support logs into an account (A10): the agency is told, in its language ---------------------------------------

def test_support_logging_in_tells_the_agency_in_its_language_with_the_reason_escaped(db, run_jobs, smtp_server):
    agency, _ = make_agency("Client Keeper", email="keeper@agency.test")
    set_agency_language(agency, "fr")
    account = make_account(agency, "acme", admin_password="client-admin-pass-1",
                           notification_email="alerts@keeper.test")
    staff = make_support()
    login_as.support_login_as_link(account.id, staff, "Ticket 42: <img src=x onerror=alert(1)>", STAFF)
    run_jobs()
    message = only(smtp_server, "alerts@keeper.test")
    assert message["subject"] == "Le support AgencyHQ se connecte à acme"
    assert "Staff (staff@agencyhq.test), du support AgencyHQ, se connecte au compte de votre client acme" \
        in message["body"]
    assert "Motif : Ticket 42: <img src=x onerror=alert(1)>" in message["body"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in message["html"] and "<img src=x" not in message["html"]


# ---- every converted kind is a template pair ------------------------------------------------------------------------

KINDS = ("client_password_reset", "account_ready", "password_reset", "contact_ticket", "ticket_reply",
         "two_factor_reset", "signup_confirm", "agency_application", "agency_approved", "agency_rejected",
         "agency_suspended", "agency_reactivated", "agency_created", "invoice_disputed", "email_change_confirm",
         "email_change_requested", "email_changed", "support_login_as")


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_has_a_text_and_an_html_template_on_the_shared_layouts(app, kind):
    from pathlib import Path
    root = Path(app.root_path).parent / "templates" / "email"
    text, html = (root / f"{kind}.txt").read_text(), (root / f"{kind}.html").read_text()
    assert '{% extends "email/base.txt" %}' in text and "{% block subject %}" in text
    assert '{% extends "email/base.html" %}' in html
    assert 'import' in html and "with context" in html


def test_the_outbox_keeps_both_parts_of_what_was_sent(db, run_jobs, smtp_server):
    _agency, owner = make_agency(email="owner@agency.test")
    agencies.create(name="Both Parts", owner_email="both@agency.test", actor=STAFF)
    run_jobs()
    email = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "agency_created"))
    assert email.status == "sent" and email.body_text and email.body_html and email.locale == "en"
    message = only(smtp_server, "both@agency.test")
    assert message["subject"] == email.subject
    assert email.sent_at and email.sent_at >= utcnow() - timedelta(minutes=5)
