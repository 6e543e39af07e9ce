"""Abuse and bounce reports (S6, N3): support files one against a hosted account (every field checked,
nothing written on a refusal); it is e-mailed once to the agency's notification e-mail and never to the
client; the agency sees it on the account's page and its Reports list and acknowledges it with a reply;
support's queue, Close, Disable account (for abuse, audited, the agency told) and Enable account; a paid
renewal does not enable an account disabled for abuse; the API lists the agency's reports."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from webapp.models import AbuseReport, AuditEvent, HostedAccount, Invoice, OutboundEmail
from webapp.services import api_tokens, renewals, reports
from webapp.services.audit import Actor
from webapp.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from webapp.services.scope import AgencyScope

from .helpers import add_card, agency_actor, audited, csrf_token, login, make_account, make_agency, make_member, \
    make_support

HX = {"HX-Request": "true"}
STAFF = "staff@agencyhq.test"
SUPPORT_ACTOR = Actor("user:support", STAFF)


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def emails(db, kind: str | None = None) -> list[OutboundEmail]:
    db.session.expire_all()
    stmt = sa.select(OutboundEmail).order_by(OutboundEmail.id)
    if kind:
        stmt = stmt.where(OutboundEmail.kind == kind)
    return list(db.session.scalars(stmt))


@pytest.fixture
def agency(db):
    agency, owner = make_agency("Northwind", email="nora@agency.test")
    account = make_account(agency, "bakery", notification_email="alerts@northwind.test",
                           client_email="owner@bakery.test", admin_password="bakery-admin-pw")
    return agency, owner, account


@pytest.fixture
def staff(db):
    return make_support()


def new_input(account="bakery", **fields) -> reports.ReportInput:
    values = dict(account=account, kind="abuse", severity="high", description="Spam complaints from a bought list.",
                  evidence="Feedback loop: 312 complaints in 2 hours.", sample_message="")
    values.update(fields)
    return reports.ReportInput(**values)


def file_report(staff, **fields) -> AbuseReport:
    return reports.file(new_input(**fields), staff=staff, actor=SUPPORT_ACTOR)


def post_form(client, path, data=None, page=None):
    token = csrf_token(client.get(page or path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **(data or {})})


# ---- filing -------------------------------------------------------------------------------------------------

def test_every_field_is_checked_at_once_and_nothing_is_written(db, agency, staff):
    with pytest.raises(ValidationFailed) as refused:
        reports.file(reports.ReportInput(account="", kind="spam", severity="urgent", description=" ", evidence="",
                                         sample_message="x" * (reports.MAX_SAMPLE + 1)),
                     staff=staff, actor=SUPPORT_ACTOR)
    assert set(refused.value.fields) == {"account", "kind", "severity", "description", "evidence", "sample_message"}
    with pytest.raises(ValidationFailed) as unknown:
        file_report(staff, account="no-such-account", description="x" * (reports.MAX_DESCRIPTION + 1),
                    evidence="bad\x00byte")
    assert unknown.value.fields["account"] == "No hosted account has this address."
    assert "2,000" in unknown.value.fields["description"] and "NUL" in unknown.value.fields["evidence"]
    assert count(db, AbuseReport) == 0 and count(db, OutboundEmail) == 0 and audited(db) == []


def test_only_support_files_a_report(db, agency):
    owner = agency[1]
    with pytest.raises(Forbidden):
        reports.file(new_input(), staff=owner, actor=agency_actor(owner))
    assert count(db, AbuseReport) == 0


def test_a_report_is_emailed_once_to_the_agencys_notification_email(app, db, agency, staff, run_jobs, smtp_server):
    account = agency[2]
    report = file_report(staff, account=" BAKERY ", sample_message="Subject: Win a prize!")
    assert (report.agency_id, report.account_id, report.status, report.filed_by_id) == (
        agency[0].id, account.id, "open", staff.id)
    [email] = emails(db)
    assert (email.kind, email.to_address, email.agency_id) == ("abuse_report", "alerts@northwind.test", agency[0].id)
    assert email.dedupe_key == f"notice:abuse_report:{report.id}:"
    assert audited(db) == ["report_filed"]
    run_jobs()
    [sent] = smtp_server.messages
    assert sent["to"] == ["alerts@northwind.test"] and sent["subject"] == "Abuse report about bakery"
    assert sent["content_type"] == "multipart/alternative" and sent["html"]
    for part in (sent["body"], sent["html"]):
        assert "Feedback loop: 312 complaints in 2 hours." in part and "Subject: Win a prize!" in part
        assert f"/reports/{report.id}" in part and "High" in part
    # The same notice again (a retried step) finds the first e-mail.
    reports._tell_agency("abuse_report", report, account, key=f"notice:abuse_report:{report.id}:")
    assert len(emails(db)) == 1
    assert "owner@bakery.test" not in {e.to_address for e in emails(db)}


@pytest.mark.parametrize("notice_email, expected", [("ops@northwind.test", ["ops@northwind.test"]),
                                                    (None, ["nora@agency.test"])])
def test_a_referred_accounts_report_goes_to_the_agency_never_to_the_client(db, agency, staff, notice_email, expected):
    northwind = agency[0]
    northwind.notice_email = notice_email
    db.session.commit()
    referred = make_account(northwind, "florist", kind="commission", notification_email="me@florist.test",
                            client_email="me@florist.test")
    report = file_report(staff, account="florist", kind="bounce", severity="medium")
    assert report.agency_id == northwind.id
    sent = emails(db, "abuse_report")
    assert [e.to_address for e in sent] == expected
    assert referred.notification_email not in {e.to_address for e in emails(db)}
    assert sent[0].subject == "Bounce report about florist"
    # Disabling it tells the agency too, still not the client.
    reports.disable_account(report.id, staff=staff, actor=SUPPORT_ACTOR)
    assert [e.to_address for e in emails(db, "account_disabled_abuse")] == expected
    assert "me@florist.test" not in {e.to_address for e in emails(db)}


def test_a_standalone_accounts_report_is_emailed_to_no_one(db, staff):
    alone = make_account(make_agency("Gone")[0], "alone", notification_email="me@alone.test")
    alone.agency_id, alone.kind = None, "standalone"
    db.session.commit()
    report = file_report(staff, account="alone")
    assert report.agency_id is None and emails(db) == []
    assert audited(db) == ["report_filed"]


def test_typed_evidence_and_sample_are_escaped_in_the_html_part(db, agency, staff):
    file_report(staff, description="Links to <a href=x>prize</a>", evidence="<script>alert('x')</script> & more",
                sample_message='<img src=x onerror="alert(1)">')
    [email] = emails(db)
    assert "<script>" not in email.body_html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in \
        email.body_html
    assert "<img src=x" not in email.body_html and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in email.body_html
    assert "<a href=x>" not in email.body_html
    # The text part is not HTML: it keeps what was typed.
    assert "<script>alert('x')</script> & more" in email.body_text


def test_support_files_a_report_from_the_console_with_errors_by_the_field(client, db, agency, staff):
    login(client, STAFF)
    search = client.get("/support?q=bakery").get_data(as_text=True)
    assert "/support/reports/new?account=bakery" in search
    page = client.get("/support/reports/new?account=bakery").get_data(as_text=True)
    assert 'value="bakery"' in page
    refused = post_form(client, "/support/reports/new", {"account": "bakery", "kind": "abuse", "severity": "high",
                                                         "description": "", "evidence": ""})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'id="description-error"' in html and "Say what happened." in html and 'id="evidence-error"' in html
    assert count(db, AbuseReport) == 0
    done = post_form(client, "/support/reports/new", {"account": "bakery", "kind": "abuse", "severity": "high",
                                                      "description": "Spam", "evidence": "312 complaints"})
    report = db.session.scalars(sa.select(AbuseReport)).one()
    assert done.status_code == 303 and done.headers["Location"] == f"/support/reports/{report.id}"
    shown = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "is filed and the agency was e-mailed" in shown and "312 complaints" in shown


def test_the_console_refuses_agency_users_and_posts_without_a_csrf_token(client, db, agency, staff):
    report = file_report(staff)
    login(client, "nora@agency.test")
    for path in ("/support/reports", "/support/reports/new", f"/support/reports/{report.id}"):
        assert client.get(path).status_code == 403
    assert client.post(f"/support/reports/{report.id}/disable-account").status_code in (400, 403)
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").get_data(as_text=True))})
    login(client, STAFF)
    assert client.post(f"/support/reports/{report.id}/disable-account").status_code == 400  # no CSRF token
    assert db.session.get(HostedAccount, report.account_id).status == "active"


# ---- the agency -----------------------------------------------------------------------------------------------

def test_the_agency_sees_its_reports_on_the_account_page_and_the_reports_list(client, db, agency, staff):
    report = file_report(staff)
    login(client, "nora@agency.test")
    home = client.get("/").get_data(as_text=True)
    assert 'href="/reports"' in home  # the side menu
    account_page = client.get(f"/accounts/{agency[2].id}").get_data(as_text=True)
    assert f'data-report="{report.id}"' in account_page and f"/reports/{report.id}" in account_page
    listing = client.get("/reports")
    assert listing.status_code == 200 and f'data-report="{report.id}"' in listing.get_data(as_text=True)
    assert f'data-report="{report.id}"' not in client.get("/reports?status=closed").get_data(as_text=True)
    fragment = client.get("/reports?status=open", headers=HX)
    assert "<html" not in fragment.get_data(as_text=True) and f'data-report="{report.id}"' in fragment.get_data(
        as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    shown = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "Feedback loop: 312 complaints in 2 hours." in shown and "Acknowledge the report" in shown


def test_another_agencys_report_is_not_found(client, db, agency, staff):
    report = file_report(staff)
    rival, rival_owner = make_agency("Rival", email="rival@agency.test")
    with pytest.raises(NotFound):
        reports.get(AgencyScope(rival.id), report.id, actor=agency_actor(rival_owner))
    with pytest.raises(NotFound):
        reports.acknowledge(AgencyScope(rival.id), report.id, reply="Not ours", user=rival_owner,
                            actor=agency_actor(rival_owner))
    assert reports.listing(AgencyScope(rival.id), actor=agency_actor(rival_owner)).rows == []
    login(client, "rival@agency.test")
    assert client.get(f"/reports/{report.id}").status_code == 404
    assert post_form(client, f"/reports/{report.id}/acknowledge", {"reply": "Not ours"},
                     page="/reports").status_code == 404
    assert client.get("/reports/not-a-number").status_code == 404
    assert f'data-report="{report.id}"' not in client.get("/reports").get_data(as_text=True)
    assert db.session.get(AbuseReport, report.id).status == "open"


def test_the_agency_acknowledges_with_a_reply(client, db, agency, staff):
    report = file_report(staff)
    login(client, "nora@agency.test")
    empty = post_form(client, f"/reports/{report.id}/acknowledge", {"reply": "  "}, page=f"/reports/{report.id}")
    assert empty.status_code == 422 and 'id="reply-error"' in empty.get_data(as_text=True)
    assert "Say what you did about it." in empty.get_data(as_text=True)
    done = post_form(client, f"/reports/{report.id}/acknowledge",
                     {"reply": "The client bought a list; we removed it."}, page=f"/reports/{report.id}")
    assert done.status_code == 303 and done.headers["Location"] == f"/reports/{report.id}"
    db.session.expire_all()
    row = db.session.get(AbuseReport, report.id)
    assert (row.status, row.agency_reply, row.acknowledged_by_id) == (
        "acknowledged", "The client bought a list; we removed it.", agency[1].id)
    assert row.acknowledged_at is not None
    assert audited(db, AuditEvent.action.like("report_%")) == ["report_filed", "report_acknowledged"]
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "is acknowledged" in page and "The client bought a list; we removed it." in page
    again = post_form(client, f"/reports/{report.id}/acknowledge", {"reply": "Again"}, page="/reports")
    assert again.status_code == 409 and "already acknowledged" in again.get_data(as_text=True)
    assert db.session.get(AbuseReport, report.id).agency_reply == "The client bought a list; we removed it."


def test_a_billing_member_sees_reports_but_cannot_acknowledge(client, db, agency, staff):
    report = file_report(staff)
    billing_member = make_member(agency[0], "billing", email="bill@agency.test")
    with pytest.raises(Forbidden):
        reports.acknowledge(AgencyScope(agency[0].id), report.id, reply="ok", user=billing_member,
                            actor=agency_actor(billing_member))
    login(client, "bill@agency.test")
    page = client.get(f"/reports/{report.id}")
    assert page.status_code == 200 and 'id="acknowledge-not-allowed"' in page.get_data(as_text=True)
    assert post_form(client, f"/reports/{report.id}/acknowledge", {"reply": "ok"}, page="/reports").status_code == 403


# ---- support's queue and decisions ---------------------------------------------------------------------------

def test_the_queue_holds_open_and_acknowledged_reports_and_filters_by_status(client, db, agency, staff):
    first = file_report(staff)
    second = file_report(staff, kind="bounce")
    third = file_report(staff, severity="low")
    reports.acknowledge(AgencyScope(agency[0].id), second.id, reply="Cleaned the list", user=agency[1],
                        actor=agency_actor(agency[1]))
    reports.close(third.id, staff=staff, actor=SUPPORT_ACTOR)
    assert [r.report.id for r in reports.queue().rows] == [first.id, second.id]
    login(client, STAFF)
    html = client.get("/support/reports").get_data(as_text=True)
    assert f'data-report="{first.id}"' in html and f'data-report="{second.id}"' in html
    assert f'data-report="{third.id}"' not in html
    closed = client.get("/support/reports?status=closed").get_data(as_text=True)
    assert f'data-report="{third.id}"' in closed and f'data-report="{first.id}"' not in closed
    acknowledged = client.get("/support/reports?status=acknowledged", headers=HX).get_data(as_text=True)
    assert "<html" not in acknowledged and f'data-report="{second.id}"' in acknowledged
    assert f'data-report="{first.id}"' not in acknowledged
    assert "Cleaned the list" in client.get(f"/support/reports/{second.id}").get_data(as_text=True)


def test_support_closes_a_report_once_audited(client, db, agency, staff):
    report = file_report(staff)
    login(client, STAFF)
    done = post_form(client, f"/support/reports/{report.id}/close", page=f"/support/reports/{report.id}")
    assert done.status_code == 303
    db.session.expire_all()
    row = db.session.get(AbuseReport, report.id)
    assert (row.status, row.closed_by_id) == ("closed", staff.id) and row.closed_at is not None
    again = post_form(client, f"/support/reports/{report.id}/close", page=f"/support/reports/{report.id}")
    assert again.status_code == 409 and "already closed" in again.get_data(as_text=True)
    assert audited(db) == ["report_filed", "report_closed"]
    assert client.get("/support/reports/999999").status_code == 404


def test_support_disables_the_account_for_abuse_and_enables_it_again(client, db, agency, staff, run_jobs, smtp_server):
    account = agency[2]
    report = file_report(staff)
    login(client, STAFF)
    done = post_form(client, f"/support/reports/{report.id}/disable-account", page=f"/support/reports/{report.id}")
    assert done.status_code == 303
    db.session.expire_all()
    disabled = db.session.get(HostedAccount, account.id)
    assert (disabled.status, disabled.disabled_reason) == ("disabled", "abuse") and disabled.disabled_at is not None
    assert db.session.get(AbuseReport, report.id).account_disabled_at is not None
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "account_disabled_abuse")).one()
    assert event.account_id == account.id and event.detail["report"] == report.id and event.actor == f"user:{staff.id}"
    [told] = emails(db, "account_disabled_abuse")
    assert told.to_address == "alerts@northwind.test"
    run_jobs()
    assert sorted(m["subject"] for m in smtp_server.messages) == ["Abuse report about bakery",
                                                                  "bakery is disabled for abuse"]
    # The client sees the closed page; the agency's account page says why.
    closed = client.get("/app/login", base_url="http://bakery.localhost")
    assert closed.status_code == 403 and 'id="account-closed"' in closed.get_data(as_text=True)
    twice = post_form(client, f"/support/reports/{report.id}/disable-account", page=f"/support/reports/{report.id}")
    assert twice.status_code == 409 and "already disabled for abuse" in twice.get_data(as_text=True)
    # Opening it says why it is closed: support's decision, not an unpaid renewal.
    from webapp.services.accounts.lifecycle import refuse_if_closed
    with pytest.raises(Conflict, match="because of an abuse report"):
        refuse_if_closed(db.session.get(HostedAccount, account.id))

    enabled = post_form(client, f"/support/reports/{report.id}/enable-account", page=f"/support/reports/{report.id}")
    assert enabled.status_code == 303
    db.session.expire_all()
    account = db.session.get(HostedAccount, account.id)
    assert (account.status, account.disabled_reason, account.disabled_at) == ("active", None, None)
    assert db.session.get(AbuseReport, report.id).account_disabled_at is None
    assert audited(db) == ["report_filed", "account_disabled_abuse", "account_enabled_abuse"]
    with pytest.raises(Conflict):
        reports.enable_account(report.id, staff=staff, actor=SUPPORT_ACTOR)


def test_the_agencys_account_page_says_it_is_disabled_for_abuse(client, db, agency, staff):
    report = file_report(staff)
    reports.disable_account(report.id, staff=staff, actor=SUPPORT_ACTOR)
    login(client, "nora@agency.test")
    page = client.get(f"/accounts/{agency[2].id}").get_data(as_text=True)
    assert "Support disabled this account because of an abuse report" in page
    assert 'id="report-disabled"' in client.get(f"/reports/{report.id}").get_data(as_text=True)


def test_a_cancelled_account_disabled_for_abuse_is_cancelled_again_when_enabled(db, agency, staff):
    from webapp.models import utcnow
    account = agency[2]
    account.status, account.cancelled_at = "cancelled", utcnow()
    db.session.commit()
    report = file_report(staff)
    reports.disable_account(report.id, staff=staff, actor=SUPPORT_ACTOR)
    reports.enable_account(report.id, staff=staff, actor=SUPPORT_ACTOR)
    assert db.session.get(HostedAccount, account.id).status == "cancelled"
    account = db.session.get(HostedAccount, account.id)
    account.status, account.expired_at = "expired", utcnow()
    db.session.commit()
    with pytest.raises(Conflict):
        reports.disable_account(report.id, staff=staff, actor=SUPPORT_ACTOR)


# ---- renewals keep their rules ---------------------------------------------------------------------------------

def _due(agency, name):
    today = date.today()
    return make_account(agency, name, period_start=today - timedelta(days=30), period_end=today, anchor_day=today.day)


@pytest.mark.parametrize("path", ["one", "batch"])
def test_a_paid_renewal_does_not_enable_an_account_disabled_for_abuse(app, db, staff, run_jobs, path):
    northwind, _ = make_agency("Northwind", email="nora@agency.test")
    add_card(northwind)
    abused = _due(northwind, "spammer")
    unpaid = _due(northwind, "late-payer")
    unpaid.status, unpaid.disabled_reason = "disabled", "unpaid"
    db.session.commit()
    report = file_report(staff, account="spammer")
    reports.disable_account(report.id, staff=staff, actor=SUPPORT_ACTOR)
    if path == "one":
        for account in (abused, unpaid):
            renewals.renew(account.id, date.today())
    else:
        renewals.sweep_renewals()
        run_jobs()
    db.session.expire_all()
    paid = {i.account_id: i.status for i in db.session.scalars(sa.select(Invoice).where(Invoice.kind == "renewal"))}
    assert paid == {abused.id: "paid", unpaid.id: "paid"}  # both renewed on their day
    abused, unpaid = db.session.get(HostedAccount, abused.id), db.session.get(HostedAccount, unpaid.id)
    assert abused.period_end > date.today() and unpaid.period_end > date.today()
    assert (abused.status, abused.disabled_reason) == ("disabled", "abuse")
    assert (unpaid.status, unpaid.disabled_reason) == ("active", None)


# ---- the API ------------------------------------------------------------------------------------------------

def test_the_api_lists_the_agencys_reports_only(client, db, agency, staff):
    mine = file_report(staff)
    acknowledged = file_report(staff, kind="bounce")
    reports.acknowledge(AgencyScope(agency[0].id), acknowledged.id, reply="Done", user=agency[1],
                        actor=agency_actor(agency[1]))
    rival, _ = make_agency("Rival", email="rival@agency.test")
    make_account(rival, "rival-shop")
    theirs = file_report(staff, account="rival-shop")
    token = api_tokens.create(agency[1], "tests", Actor("system", "tests"))[1]
    headers = {"Authorization": f"Bearer {token}"}
    body = client.get("/api/v1/reports", headers=headers).get_json()
    assert body["total"] == 2 and body["next_cursor"] is None
    assert [r["id"] for r in body["data"]] == [acknowledged.id, mine.id]
    first = body["data"][0]
    assert (first["account_name"], first["kind"], first["status"], first["agency_reply"]) == (
        "bakery", "bounce", "acknowledged", "Done")
    assert theirs.id not in {r["id"] for r in body["data"]}
    only_open = client.get("/api/v1/reports?status=open", headers=headers).get_json()
    assert [r["id"] for r in only_open["data"]] == [mine.id]
    paged = client.get("/api/v1/reports?limit=1", headers=headers).get_json()
    assert len(paged["data"]) == 1 and paged["next_cursor"]
    second = client.get(f"/api/v1/reports?limit=1&cursor={paged['next_cursor']}", headers=headers).get_json()
    assert [r["id"] for r in second["data"]] == [mine.id] and second["next_cursor"] is None
    bad = client.get("/api/v1/reports?status=pending", headers=headers)
    assert bad.status_code == 422 and "status" in bad.get_json()["error"]["fields"]
