"""Contact support (S3): a ticket opened by an agency e-mails support over SMTP; agency and support
staff talk in the ticket's live chat (htmx posts, a 2 s poll for the lines after the last one);
support closes it. Every refusal writes nothing and is never a 500."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from webapp.models import AuditEvent, OutboundEmail, SupportMessage, SupportRequest
from webapp.services import contact
from webapp.services.audit import Actor
from webapp.services.errors import Conflict, NotFound, ValidationFailed
from webapp.services.scope import AgencyScope

from .helpers import audited, csrf_token, login, make_account, make_agency, make_support

HX = {"HX-Request": "true"}


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def message_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-message="(\d+)"', html)]


@pytest.fixture
def agency(db):
    agency, user = make_agency("Northwind", email="nora@agency.test")
    make_account(agency, "bakery")
    return agency, user


def open_via_form(client, subject="Renewal question", message="Why was bakery charged twice?", account=""):
    page = client.get("/contact")
    return client.post("/contact", data={"csrf_token": csrf_token(page.get_data(as_text=True)), "subject": subject,
                                         "message": message, "account": account})


def ticket_of(db) -> SupportRequest:
    db.session.expire_all()
    return db.session.scalars(sa.select(SupportRequest)).one()


def send(client, ticket_id, body, *, after=0, htmx=False, base="/contact"):
    page = client.get(f"{base}/{ticket_id}")
    token = csrf_token(page.get_data(as_text=True))
    headers = {**HX, "X-CSRFToken": token} if htmx else {}
    return client.post(f"{base}/{ticket_id}/messages", data={"csrf_token": token, "chat-body": body, "after": after},
                       headers=headers)


# ---- opening a ticket -------------------------------------------------------------------------------------

def test_a_ticket_opens_with_its_first_message_and_support_is_emailed_over_smtp(client, db, app, agency, run_jobs,
                                                                                  smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "SUPPORT_EMAIL", "helpdesk@agencyhq.test")
    login(client, "nora@agency.test")
    response = open_via_form(client, account="BAKERY ")
    ticket = ticket_of(db)
    assert response.status_code == 303 and response.headers["Location"] == f"/contact/{ticket.id}"
    assert (ticket.kind, ticket.status, ticket.agency_id) == ("contact", "open", agency[0].id)
    assert ticket.subject == "Renewal question" and ticket.account_id is not None
    assert [m.body for m in ticket.messages] == ["Why was bakery charged twice?"]
    assert ticket.messages[0].author_id == agency[1].id
    assert audited(db) == ["contact_ticket_opened"]
    email = db.session.scalars(sa.select(OutboundEmail)).one()
    assert email.to_address == "helpdesk@agencyhq.test" and email.kind == "contact_ticket"

    run_jobs()
    [sent] = smtp_server.messages
    assert sent["to"] == ["helpdesk@agencyhq.test"]
    assert sent["subject"] == f"[Ticket {ticket.id}] Renewal question"
    assert "Why was bakery charged twice?" in sent["body"] and "nora@agency.test" in sent["body"]
    assert "Account: bakery" in sent["body"] and f"/support/contact/{ticket.id}" in sent["body"]

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Ticket 1 is open and support has been e-mailed" in page
    assert "Why was bakery charged twice?" in page and "About bakery" in page
    listing = client.get("/contact").get_data(as_text=True)
    assert f'data-ticket="{ticket.id}"' in listing and "Waiting for support" in listing


@pytest.mark.parametrize("subject, message, account, field_error", [
    ("Help", "", "", "Write a message."),
    ("Help", "   \n  ", "", "Write a message."),
    ("Help", "x" * 5001, "", "limited to 5,000 characters"),
    ("", "Hello", "", "Give your request a subject."),
    ("s" * 201, "Hello", "", "limited to 200 characters"),
    ("Help", "Hello", "not-mine", "No account of yours has that name."),
])
def test_a_refused_ticket_shows_the_field_error_and_writes_nothing(client, db, agency, subject, message, account,
                                                                   field_error):
    other, _ = make_agency(email="other@agency.test")
    make_account(other, "not-mine")
    login(client, "nora@agency.test")
    response = open_via_form(client, subject=subject, message=message, account=account)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error in html and "invalid-feedback" in html
    assert count(db, SupportRequest) == count(db, SupportMessage) == count(db, OutboundEmail) == 0
    assert audited(db) == []


def test_a_message_of_exactly_5000_characters_is_accepted(client, db, agency):
    login(client, "nora@agency.test")
    assert open_via_form(client, message="y" * 5000).status_code == 303
    assert len(ticket_of(db).messages[0].body) == 5000


def test_the_service_reports_every_field_at_once(db, agency):
    with pytest.raises(ValidationFailed) as refused:
        contact.open_ticket(AgencyScope(agency[0].id), agency[1], subject=" ", message="", account_name="nope",
                            actor=Actor("user:1", "t"))
    assert set(refused.value.fields) == {"subject", "message", "account"}


# ---- who may see what -------------------------------------------------------------------------------------

def test_another_agencys_ticket_is_not_found_whatever_the_action(client, db, agency):
    theirs, their_user = make_agency("Rival", email="rival@agency.test")
    foreign = contact.open_ticket(AgencyScope(theirs.id), their_user, subject="Theirs", message="private words",
                                  account_name=None, actor=Actor("user:2", "t"))
    login(client, "nora@agency.test")
    token = csrf_token(client.get("/contact").get_data(as_text=True))
    assert client.get(f"/contact/{foreign.id}").status_code == 404
    assert client.get(f"/contact/{foreign.id}/messages?after=0", headers=HX).status_code == 404
    post = client.post(f"/contact/{foreign.id}/messages", data={"csrf_token": token, "chat-body": "hi"})
    assert post.status_code == 404
    for junk in ("abc", "0", "-1", "99999999999999999999"):
        assert client.get(f"/contact/{junk}").status_code == 404
    assert "private words" not in client.get("/contact").get_data(as_text=True)
    assert count(db, SupportMessage) == 1
    # Nor does the service let an agency user write into it, whatever the caller passes.
    with pytest.raises(NotFound):
        contact.post_message(db.session.get(SupportRequest, foreign.id), agency[1], "sneaky")


def test_only_agency_users_contact_support_and_only_staff_answer_from_the_console(client, db, agency):
    login(client, "nora@agency.test")
    assert client.get("/support/contact").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/contact").get_data(as_text=True))})
    make_support()
    login(client, "staff@agencyhq.test")
    assert client.get("/contact").status_code == 403
    assert client.get("/support/contact").status_code == 200


# ---- the live chat ----------------------------------------------------------------------------------------

def test_polling_returns_only_the_lines_after_the_last_one_shown(client, db, agency):
    login(client, "nora@agency.test")
    open_via_form(client)
    ticket = ticket_of(db)
    first = ticket.messages[0].id
    page = client.get(f"/contact/{ticket.id}").get_data(as_text=True)
    assert f'hx-get="/contact/{ticket.id}/messages?after={first}"' in page and 'hx-trigger="every 2s"' in page
    assert message_ids(page) == [first]

    nothing = client.get(f"/contact/{ticket.id}/messages?after={first}", headers=HX)
    assert nothing.status_code == 204 and nothing.get_data() == b""  # htmx leaves the page alone

    staff = make_support()
    second = contact.post_message(ticket, staff, "Looking into it.").id
    third = contact.post_message(ticket, staff, "Found it: a retried renewal.").id
    news = client.get(f"/contact/{ticket.id}/messages?after={first}", headers=HX)
    html = news.get_data(as_text=True)
    assert news.status_code == 200 and "<html" not in html
    assert message_ids(html) == [second, third]
    assert 'hx-swap-oob="beforeend:#chat-lines"' in html
    assert f'/contact/{ticket.id}/messages?after={third}' in html  # the next poll starts after them
    assert "Looking into it." in html and ">Support</span>" in html
    assert message_ids(client.get(f"/contact/{ticket.id}/messages?after={second}", headers=HX)
                       .get_data(as_text=True)) == [third]
    # Opened on its own (no htmx), the URL shows the whole conversation.
    whole = client.get(f"/contact/{ticket.id}/messages?after={third}").get_data(as_text=True)
    assert "<html" in whole and message_ids(whole) == [first, second, third]
    # A garbled `after` is read as "from the start", never a 500.
    assert message_ids(client.get(f"/contact/{ticket.id}/messages?after=zz", headers=HX)
                       .get_data(as_text=True)) == [first, second, third]


def test_a_line_sent_with_htmx_comes_back_once_with_a_fresh_form(client, db, agency):
    login(client, "nora@agency.test")
    open_via_form(client)
    ticket = ticket_of(db)
    first = ticket.messages[0].id
    response = send(client, ticket.id, "  Any news?  ", after=first, htmx=True)
    html = response.get_data(as_text=True)
    line = db.session.scalars(sa.select(SupportMessage).order_by(SupportMessage.id.desc())).first()
    assert response.status_code == 200 and line.body == "Any news?"
    assert message_ids(html) == [line.id]  # only what the page does not show yet
    assert f"after={line.id}" in html
    assert 'id="chat-form-area" hx-swap-oob="true"' in html and "autofocus" in html
    # Without JavaScript the form posts and comes back to the page.
    plain = send(client, ticket.id, "And now?")
    assert plain.status_code == 303 and plain.headers["Location"] == f"/contact/{ticket.id}#chat"
    assert [m.body for m in ticket_of(db).messages][-2:] == ["Any news?", "And now?"]


@pytest.mark.parametrize("body, error", [("", "Write a message."), ("  \n ", "Write a message."),
                                         ("z" * 5001, "limited to 5,000 characters")])
def test_an_empty_or_oversized_line_is_refused_and_nothing_is_written(client, db, agency, body, error):
    login(client, "nora@agency.test")
    open_via_form(client)
    ticket = ticket_of(db)
    plain = send(client, ticket.id, body)
    assert plain.status_code == 422 and error in plain.get_data(as_text=True)
    htmx = send(client, ticket.id, body, htmx=True)
    assert htmx.status_code == 200  # htmx swaps no 4xx: the form comes back with its error in place
    assert htmx.headers["HX-Retarget"] == "#chat-form-area" and htmx.headers["HX-Reswap"] == "outerHTML"
    assert error in htmx.get_data(as_text=True) and "<html" not in htmx.get_data(as_text=True)
    assert count(db, SupportMessage) == 1


def test_a_closed_ticket_takes_no_more_lines_from_either_side(client, db, agency):
    login(client, "nora@agency.test")
    open_via_form(client)
    ticket = ticket_of(db)
    first = ticket.messages[0].id
    staff = make_support()
    contact.close_ticket(ticket, staff, Actor(f"user:{staff.id}", staff.email))

    plain = send(client, ticket.id, "One more thing")
    assert plain.status_code == 409 and "This ticket is closed" in plain.get_data(as_text=True)
    htmx = send(client, ticket.id, "One more thing", htmx=True)
    assert "This ticket is closed" in htmx.get_data(as_text=True) and 'id="chat-form"' not in htmx.get_data(as_text=True)
    with pytest.raises(Conflict):
        contact.post_message(ticket, staff, "staff too")
    assert count(db, SupportMessage) == 1

    # The open page learns it at its next poll, and that poller polls no more.
    news = client.get(f"/contact/{ticket.id}/messages?after={first}", headers=HX).get_data(as_text=True)
    assert 'id="chat-closed"' in news and 'hx-swap-oob="true"' in news and "hx-trigger" not in news
    page = client.get(f"/contact/{ticket.id}").get_data(as_text=True)
    assert 'id="chat-closed"' in page and "every 2s" not in page and 'id="chat-form"' not in page
    assert 'text-bg-secondary">Closed</span>' in client.get("/contact").get_data(as_text=True)


# ---- support's side ---------------------------------------------------------------------------------------

def test_support_answers_in_the_chat_and_closes_the_ticket_with_an_audit_event(client, db, agency, app):
    other, other_user = make_agency("Rival", email="rival@agency.test")
    login(client, "nora@agency.test")
    open_via_form(client, subject="Domain will not verify", account="bakery")
    ticket = ticket_of(db)
    contact.open_ticket(AgencyScope(other.id), other_user, subject="Invoice copy", message="Please",
                        account_name=None, actor=Actor("user:9", "t"))
    staff = make_support()
    staff_client = app.test_client()
    login(staff_client, "staff@agencyhq.test")

    console = staff_client.get("/support").get_data(as_text=True)
    assert "2 open contact tickets" in console
    listing = staff_client.get("/support/contact").get_data(as_text=True)
    assert listing.count("data-ticket=") == 2 and "Domain will not verify" in listing and "Northwind" in listing
    assert "Awaiting an answer" in listing

    page = staff_client.get(f"/support/contact/{ticket.id}").get_data(as_text=True)
    assert "Why was bakery charged twice?" in page and "Close ticket" in page and "hx-confirm" in page
    first = ticket.messages[0].id
    reply = send(staff_client, ticket.id, "Hello Nora, checking the DNS now.", after=first, htmx=True,
                 base="/support/contact")
    assert reply.status_code == 200
    [line] = message_ids(reply.get_data(as_text=True))
    db.session.expire_all()
    assert db.session.get(SupportRequest, ticket.id).handled_by_id == staff.id  # who took it

    # The agency's poll brings support's line, marked as support's.
    news = client.get(f"/contact/{ticket.id}/messages?after={first}", headers=HX).get_data(as_text=True)
    assert message_ids(news) == [line] and "checking the DNS now" in news and ">Support</span>" in news
    assert "Answered" in staff_client.get("/support/contact").get_data(as_text=True)
    plain = send(staff_client, ticket.id, "Found it.", base="/support/contact")  # without JavaScript
    assert plain.status_code == 303 and plain.headers["Location"] == f"/support/contact/{ticket.id}#chat"
    assert "Found it." in client.get(f"/contact/{ticket.id}").get_data(as_text=True)

    token = csrf_token(page)
    closed = staff_client.post(f"/support/contact/{ticket.id}/close", data={"csrf_token": token})
    assert closed.status_code == 303 and closed.headers["Location"] == f"/support/contact/{ticket.id}"
    assert "Ticket 1 is closed." in staff_client.get(closed.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    closed_ticket = db.session.get(SupportRequest, ticket.id)
    assert closed_ticket.status == "closed" and closed_ticket.handled_at is not None
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "contact_ticket_closed")).one()
    assert (event.actor, event.agency_id, event.detail["request"]) == (f"user:{staff.id}", agency[0].id, ticket.id)
    # Closing twice is refused with a message, and the ticket moves to the closed list.
    again = staff_client.post(f"/support/contact/{ticket.id}/close", data={"csrf_token": token})
    assert "already closed" in staff_client.get(again.headers["Location"]).get_data(as_text=True)
    assert len(audited(db)) == 3  # two tickets opened, one closed
    assert staff_client.get("/support/contact").get_data(as_text=True).count("data-ticket=") == 1
    assert f'data-ticket="{ticket.id}"' in staff_client.get("/support/contact?status=closed").get_data(as_text=True)
    # With htmx (hx-confirm), closing answers with a redirect htmx follows.
    other_ticket = db.session.scalars(sa.select(SupportRequest).where(SupportRequest.id != ticket.id)).one()
    hx_close = staff_client.post(f"/support/contact/{other_ticket.id}/close",
                                 headers={**HX, "X-CSRFToken": token})
    assert hx_close.headers["HX-Redirect"] == f"/support/contact/{other_ticket.id}"


def test_support_sees_any_agencys_ticket_but_only_contact_tickets(client, db, agency):
    from webapp.services import support
    login(client, "nora@agency.test")
    open_via_form(client)
    ticket = ticket_of(db)
    detach = support.request_detach(make_account(agency[0], "leaving"), agency[1], client_email="c@c.test",
                                    actor=Actor("user:1", "t"))
    make_support()
    staff_client = client.application.test_client()
    login(staff_client, "staff@agencyhq.test")
    assert staff_client.get(f"/support/contact/{ticket.id}").status_code == 200
    assert staff_client.get(f"/support/contact/{detach.id}").status_code == 404  # a detach is not a chat
    assert client.get(f"/contact/{detach.id}").status_code == 404  # nor for the agency that asked
    assert client.get(f"/contact/{detach.id}/messages", headers=HX).status_code == 404
