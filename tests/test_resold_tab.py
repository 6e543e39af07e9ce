"""The Resold tab (R1-R5, R9-R11): filters, sort, search, pages, URL state and bad input,
against known data with the expected rows in the expected order."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from html import unescape
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.models import HostedAccount, User
from webapp.services import billing
from webapp.services.audit import Actor

from .helpers import confirm_change, csrf_token, login, make_account, make_agency

TODAY = date.today()
NOW = datetime.now(timezone.utc)

# name, client, e-mail, custom domain, term, status, contacts, created days ago, period end in days
ROWS = [
    ("alpha", "Alice Bakery", "alice@bake.test", "mail.alpha.test", "monthly", "active", 1000, 10, 5),
    ("bravo", "Bob Cycles", "bob@cycle.test", None, "annual", "active", 5000, 20, 200),
    ("charlie", "Carol Yoga", "carol@yoga.test", None, "trial", "active", 500, 3, 11),
    ("delta", "Dan Bakery", "dan@dan.test", None, "monthly", "expired", 2500, 100, -10),
    ("echo", "Eve Law", "eve@law.test", None, "trial", "expired", 500, 60, -40),
    ("foxtrot", "Frank Fox", "frank@fox.test", None, "monthly", "cancelled", 10000, 30, 2),
    ("golf", "Grace Golf", "grace@golf.test", None, "annual", "disabled", 1000, 40, 100),
    ("hotel", "Heidi Hotel", "heidi@hotel.test", None, "monthly", "provisioning", 500, 1, 30),
]
ACTIVE = ["alpha", "bravo", "charlie", "foxtrot", "golf", "hotel"]


@pytest.fixture
def agency_client(client, db):
    agency, user = make_agency("Mine", email="me@agency.test")
    for name, client_name, email, domain, term, status, limit, age, end in ROWS:
        make_account(agency, name, client_name=client_name, client_email=email, custom_domain=domain,
                     plan_term=term, status=status, contact_limit=limit, created_at=NOW - timedelta(days=age),
                     period_end=TODAY + timedelta(days=end))
    make_account(agency, "my-parent", kind="parent", client_name="Alice Bakery parent")
    other, _ = make_agency("Other", email="other@agency.test")
    make_account(other, "alpha-other", client_name="Another Bakery", client_email="alpha@bake.test")
    make_account(other, "zulu-other", client_name="Zulu", status="expired", plan_term="trial", contact_limit=500)
    login(client, "me@agency.test")
    return client


def names(response) -> list[str]:
    import re
    assert response.status_code == 200, response.status_code
    return re.findall(r'<tr data-account="([^"]+)"', response.get_data(as_text=True))


@pytest.mark.parametrize("query, expected", [
    ("", ACTIVE),
    ("status=active", ACTIVE),
    ("status=expired", ["delta", "echo"]),
    ("status=all", ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]),
    ("plan=trial", ["charlie"]),
    ("plan=trial&status=all", ["charlie", "echo"]),
    ("plan=trial&status=expired", ["echo"]),
    ("plan=monthly&plan=annual", ["alpha", "bravo", "foxtrot", "golf", "hotel"]),
    ("plan=monthly&status=expired", ["delta"]),
    ("plan=annual", ["bravo", "golf"]),
    ("plan=trial&plan=monthly&plan=annual&status=all", ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]),
])
def test_plan_type_and_status_filters(agency_client, query, expected):
    assert names(agency_client.get(f"/?{query}")) == expected


@pytest.mark.parametrize("query, expected", [
    ("q=bakery&status=all", ["alpha", "delta"]),          # client name, any case
    ("q=BAKE&status=all", ["alpha", "delta"]),            # e-mail and client name
    ("q=mail.alpha", ["alpha"]),                           # custom domain
    ("q=yoga.test", ["charlie"]),                          # client e-mail
    ("q=otel", ["hotel"]),                                 # anywhere in the name
    ("q=ot", ["foxtrot", "hotel"]),                        # short queries work too
    ("q=%25", []),                                         # LIKE wildcards are literal
    ("q=_", []),
    ("q=a%25b", []),
    ("q=bakery&status=expired", ["delta"]),
    ("q=bakery&plan=annual&status=all", []),
    ("q=  Frank   Fox  ", ["foxtrot"]),                    # spaces are folded
    ("q=other", []),                                       # another agency's accounts never appear
    ("q=parent", []),                                      # nor the agency's own parent account
])
def test_search_as_you_type_matches_anywhere_case_insensitively(agency_client, query, expected):
    assert names(agency_client.get(f"/?{query}")) == expected


@pytest.mark.parametrize("query, expected", [
    ("sort=name&order=desc", list(reversed(ACTIVE))),
    ("sort=plan_size", ["charlie", "hotel", "alpha", "golf", "bravo", "foxtrot"]),
    ("sort=plan_size&order=desc", ["foxtrot", "bravo", "golf", "alpha", "hotel", "charlie"]),
    ("sort=created", ["golf", "foxtrot", "bravo", "alpha", "charlie", "hotel"]),
    ("sort=created&order=desc", ["hotel", "charlie", "alpha", "bravo", "foxtrot", "golf"]),
    ("sort=expires", ["foxtrot", "alpha", "charlie", "hotel", "golf", "bravo"]),
    ("sort=expires&order=desc", ["bravo", "golf", "hotel", "charlie", "alpha", "foxtrot"]),
    ("sort=expires&status=all", ["echo", "delta", "foxtrot", "alpha", "charlie", "hotel", "golf", "bravo"]),
    ("sort=plan_size&plan=trial&status=all", ["charlie", "echo"]),
])
def test_sort_by_each_column_both_ways(agency_client, query, expected):
    assert names(agency_client.get(f"/?{query}")) == expected


def test_clicking_the_current_sort_header_reverses_it(agency_client):
    html = agency_client.get("/?sort=plan_size").get_data(as_text=True)
    assert 'href="/?sort=plan_size&amp;order=desc"' in html
    assert 'href="/?sort=created"' in html
    assert 'aria-sort="ascending"' in html
    html = agency_client.get("/?sort=plan_size&order=desc&q=o").get_data(as_text=True)
    assert 'href="/?q=o&amp;sort=plan_size"' in html  # sorting again keeps the search


def test_pages_of_25_with_the_total_and_deep_pages(client, db):
    agency, _ = make_agency(email="many@agency.test")
    for i in range(60):
        make_account(agency, f"acct-{i:03d}", contact_limit=1000)
    login(client, "many@agency.test")
    first = client.get("/")
    assert names(first) == [f"acct-{i:03d}" for i in range(25)]
    assert "1–25 of 60 accounts" in first.get_data(as_text=True)
    assert names(client.get("/?page=2")) == [f"acct-{i:03d}" for i in range(25, 50)]
    third = client.get("/?page=3")
    assert names(third) == [f"acct-{i:03d}" for i in range(50, 60)]
    assert "51–60 of 60 accounts" in third.get_data(as_text=True)
    assert names(client.get("/?page=3&order=desc")) == [f"acct-{i:03d}" for i in range(9, -1, -1)]
    # Past the end shows the last page; nonsense shows the first.
    assert names(client.get("/?page=99")) == names(third)
    for bad in ("abc", "-5", "0", "1e9", "99999999999999999999999"):
        response = client.get(f"/?page={bad}")
        assert response.status_code == 200
    assert names(client.get("/?page=abc")) == names(first)


def test_unknown_values_fall_back_to_defaults_never_a_500(agency_client):
    assert names(agency_client.get("/?sort=evil&order=sideways&status=bogus&plan=weird")) == ACTIVE
    assert names(agency_client.get("/?sort=name;DROP TABLE hosted_accounts")) == ACTIVE
    long = agency_client.get("/?q=" + "x" * 2000)
    assert names(long) == ACTIVE
    assert "limited to 100 characters" in long.get_data(as_text=True)
    assert names(agency_client.get("/?q=%00%ff%27%22<script>")) == []


def test_empty_states_say_what_to_do(client, db):
    agency, _ = make_agency(email="empty@agency.test")
    login(client, "empty@agency.test")
    assert "You have no resold accounts yet." in client.get("/").get_data(as_text=True)
    make_account(agency, "only-one")
    expired = client.get("/?status=expired").get_data(as_text=True)
    assert "No expired accounts." in expired and "Show active accounts" in expired
    search = client.get("/?q=xyz").get_data(as_text=True)
    assert "No account matches “xyz”." in search and "Clear the search" in search
    filtered = client.get("/?plan=annual").get_data(as_text=True)
    assert "No account matches these filters." in filtered


def test_htmx_gets_the_fragment_and_history_restore_the_page(agency_client):
    fragment = agency_client.get("/?status=expired", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and names(fragment) == ["delta", "echo"]
    assert 'id="resold-view-state" hx-swap-oob="true"' in html
    assert "HX-Request" in fragment.headers["Vary"]
    restore = agency_client.get("/?status=expired", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True) and names(restore) == ["delta", "echo"]
    full = agency_client.get("/?status=expired")
    assert "<html" in full.get_data(as_text=True) and "HX-Request" in full.headers["Vary"]


def test_the_form_and_links_carry_the_whole_view_in_the_url(agency_client):
    html = agency_client.get("/?q=o&plan=monthly&status=all&sort=expires&order=desc").get_data(as_text=True)
    assert 'value="o"' in html
    assert 'id="plan-monthly" checked' in html or 'value="monthly" id="plan-monthly"\n               checked' in html
    assert '<option value="all" selected>' in html
    assert '<input type="hidden" name="sort" value="expires">' in html
    assert '<input type="hidden" name="order" value="desc">' in html


def row_cells(html: str, name: str) -> list[str]:
    """The text of each cell of the account's row, spaces folded (no-break spaces too)."""
    row = re.search(rf'<tr data-account="{re.escape(name)}">(.*?)</tr>', html, re.S)
    assert row, f"no row for {name}"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    # A login URL's pieces (where it may wrap, issue 23) are no gaps in its text.
    cells = [re.sub(r'<span class="nowrap-piece">([^<]*)</span>', r"\1", c).replace("<wbr>", "") for c in cells]
    return [" ".join(re.sub(r"<[^>]+>", " ", unescape(c)).split()) for c in cells]


def medium_date(day) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def test_rows_show_plan_status_dates_price_and_controls(agency_client):
    html = agency_client.get("/").get_data(as_text=True)
    # R5, column by column: account and login URL, client, plan, status, created, renewal, price.
    account, client, plan, status, created, renews, price, _controls = row_cells(html, "alpha")
    assert account.split()[0] == "alpha" and re.fullmatch(r"http://alpha\.localhost(:\d+)?/app/login", account.split()[1])
    assert client == "Alice Bakery alice@bake.test"
    assert plan == "Plus · Monthly 1,000 contacts"
    assert status == "Active" and '<span class="badge status-active">Active</span>' in html
    assert created == medium_date((NOW - timedelta(days=10)).date())  # a day, as the renewal beside it (issue 23)
    assert renews == medium_date(TODAY + timedelta(days=5))
    assert price == "$63.00"
    assert row_cells(html, "bravo")[2] == "Plus · Annual 5,000 contacts"
    assert row_cells(html, "golf")[3] == "Disabled"
    assert row_cells(html, "charlie")[2:4] == ["Plus · Trial 500 contacts", "Active"]
    # 5 paid accounts (alpha, bravo, foxtrot, golf, hotel): 10 % off; alpha is Plus monthly 1000 = $70.00.
    assert 'id="paid-count">5<' in html and 'id="discount">10 %<' in html
    assert "20 more paid accounts for 15 %" in html
    assert "$63.00" in html
    assert re.search(r"http://alpha\.localhost(:\d+)?/app/login", html)
    assert "Free trial" in html
    assert ">Login<" in html
    expired = agency_client.get("/?status=expired").get_data(as_text=True)
    assert ">Renew<" in expired
    # An expired account: its badge and the day it expired.
    _, _, plan, status, _, expired_on, _, _ = row_cells(expired, "delta")
    assert (plan, status, expired_on) == ("Plus · Monthly 2,500 contacts", "Expired", medium_date(TODAY - timedelta(days=10)))
    assert '<span class="badge status-expired">Expired</span>' in expired


@pytest.mark.parametrize("zone, expected", [
    ("UTC", "Mar 1, 2026"),
    ("Pacific/Kiritimati", "Mar 2, 2026"),   # UTC+14: already the next morning
    ("Pacific/Pago_Pago", "Mar 1, 2026"),    # UTC-11: still the same day (01:30)
])
def test_created_is_shown_in_the_viewers_time_zone(client, db, zone, expected):
    """R5: the Created cell is the day in the agency user's own time zone, shown as the renewal day beside it."""
    agency, user = make_agency(email="tz@agency.test")
    user.timezone = zone
    db.session.commit()
    make_account(agency, "made-at-noon", created_at=datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc),
                 period_end=date(2026, 4, 1))
    login(client, "tz@agency.test")
    for html in (client.get("/").get_data(as_text=True),
                 client.get("/?sort=created", headers={"HX-Request": "true"}).get_data(as_text=True)):
        cells = row_cells(html, "made-at-noon")
        assert cells[4] == expected
        assert cells[5] == "Apr 1, 2026"


def _add_paid_account(client, db, agency):
    page = client.get("/accounts/new").get_data(as_text=True)
    key = re.search(r'id="request_key" name="request_key" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/accounts/new", data={
        "csrf_token": csrf_token(page), "request_key": key, "name": "fifth-paid", "custom_domain": "",
        "client_name": "Fifth Client", "client_email": "owner@fifth.test", "notification_email": "ops@agency.test",
        "language": "en", "timezone": "UTC", "tier": "plus", "term": "monthly", "contact_limit": "1000"})
    assert response.status_code == 303


def _renew_expired_account(client, db, agency):
    lapsed = make_account(agency, "fifth-paid", status="expired", period_end=TODAY - timedelta(days=3),
                          cancelled_at=NOW - timedelta(days=40))
    response = confirm_change(client, lapsed.id, tier="plus", term="monthly", contact_limit=1000,
                              request_key="renew-fifth")
    assert response.status_code == 303


@pytest.mark.parametrize("make_fifth_paid_account", [_add_paid_account, _renew_expired_account])
def test_the_next_fragment_prices_at_the_discount_a_new_paid_account_brings(client, db, make_fifth_paid_account):
    """R10, B5: a fragment reuses the session's paid-account count, but not past a change this
    session makes: the fifth paid account brings 10 % off, and the very next fragment prices at it."""
    agency, _ = make_agency(email="four@agency.test")
    billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=TODAY.year + 1, cvc="123",
                      actor=Actor("user:0", "tests"))
    for i in range(4):
        make_account(agency, f"paid-{i}")  # Plus, monthly, 1 000 contacts: $70.00 listed
    login(client, "four@agency.test")
    page = client.get("/").get_data(as_text=True)
    assert 'id="paid-count">4<' in page and 'id="discount">0 %<' in page
    fragment = client.get("/?sort=created", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert row_cells(fragment, "paid-0")[6] == "$70.00"

    make_fifth_paid_account(client, db, agency)

    fragment = client.get("/?sort=created", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert [row_cells(fragment, f"paid-{i}")[6] for i in range(4)] == ["$63.00"] * 4
    assert row_cells(fragment, "fifth-paid")[6] == "$63.00"
    page = client.get("/").get_data(as_text=True)
    assert 'id="paid-count">5<' in page and 'id="discount">10 %<' in page


def test_every_control_leads_to_a_page_that_exists(agency_client):
    import re
    html = agency_client.get("/?status=all").get_data(as_text=True)
    links = set(re.findall(r'href="(/[^"]*)"', html))
    assert links
    for link in links:
        path = link.split("#")[0].replace("&amp;", "&")
        assert agency_client.get(path).status_code in (200, 302), path


def test_side_menu_lists_every_entry_of_the_spec(agency_client):
    html = agency_client.get("/").get_data(as_text=True)
    for entry in ("Billing profile", "Billing history", "Prepaid credit", "SMS credits", "Compatibility credits",
                  "Account default settings", "Common questions", "Agency API", "Contact support", "My account",
                  "Logout"):
        assert entry in html
    menu = re.search(r'<nav class="side-menu" id="side-menu"[^>]*>', html).group(0)
    assert "hx-" not in menu  # nothing changes it while the page is open: no refresh, no listener


DOM_EVENTS = {"click", "change", "input", "submit", "keyup", "load", "revealed", "intersect", "every"}


def test_every_event_a_template_waits_for_is_sent_somewhere():
    """An hx-trigger on an event no code sends is dead (R9's side menu waited for `agency-changed`)."""
    root = Path(__file__).resolve().parents[1]
    senders = "\n".join(p.read_text() for folder in ("webapp", "static/js") for p in (root / folder).rglob("*.[pj][ys]"))
    unsent = [(template.name, event) for template in (root / "templates").rglob("*.html")
              for trigger in re.findall(r'hx-trigger="([^"]+)"', template.read_text())
              for event in (spec.split()[0] for spec in trigger.split(","))
              if event not in DOM_EVENTS and event not in senders]
    assert unsent == []


@pytest.mark.parametrize("args", [{}, {"q": "ba"}, {"q": "bakery"}, {"status": "all", "sort": "created", "order": "desc"},
                                  {"plan": "trial", "status": "expired"}, {"q": "bakery", "page": "7"}])
def test_view_statements_are_built_once_and_take_the_agency_as_a_parameter(app, db, args):
    """Issue 10: one statement per shape of view, reused with the agency, search and page as
    parameters. Two agencies running the same shape each see only their own accounts, and the
    statement cannot run without an agency."""
    import sqlalchemy as sa
    from werkzeug.datastructures import MultiDict

    from webapp.services import resold
    from webapp.services.scope import AgencyScope

    mine, _ = make_agency("Mine")
    theirs, _ = make_agency("Theirs")
    for agency, prefix in ((mine, "m"), (theirs, "t")):
        for n in range(3):
            make_account(agency, f"{prefix}-bakery-{n}", client_name="Bakery", plan_term="trial",
                         status="expired" if n == 2 else "active")
    view = resold.View.from_args(MultiDict(args))
    pages = {}
    for agency, prefix in ((mine, "m"), (theirs, "t")):
        before = resold._statements.cache_info()
        page = resold.page(AgencyScope(agency.id), view)
        pages[prefix] = page
        assert all(row.agency_id == agency.id for row in page.rows)
        assert page.total == resold.count(AgencyScope(agency.id), view)
        if prefix == "t":  # the second agency reused the first one's statements
            assert resold._statements.cache_info().hits > before.hits
            assert resold._statements.cache_info().misses == before.misses
    assert pages["m"].total == pages["t"].total and [r.name[1:] for r in pages["m"].rows] == [r.name[1:] for r in pages["t"].rows]
    statements, _params = resold._prepared(AgencyScope(mine.id), view, resold.PAGE_SIZE)
    with pytest.raises(sa.exc.StatementError, match="scope_agency_id"):
        db.session.scalar(statements.count, {"page_limit": 25, "page_offset": 0})
    db.session.rollback()


def test_database_sessions_are_set_up_for_the_app(app, db):
    """PostgreSQL: psycopg prepares a statement run 5 times on a connection; PostgreSQL then kept a
    generic plan for the Resold page, planned blind to LIMIT 25, that read and hashed every account of
    the agency (issue 10: 4.5 ms instead of 0.4 ms at 5 000 accounts), so each execution is planned for
    its values, and JIT is off. SQLite: WAL (the embedded worker writes while pages read) and foreign keys."""
    import sqlalchemy as sa
    with db.engine.connect() as conn:  # a connection of the pool, as every request gets
        if db.engine.dialect.name == "postgresql":
            assert conn.execute(sa.text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
            assert conn.execute(sa.text("SHOW jit")).scalar() == "off"
        else:
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1


def test_a_row_shows_every_change_at_once_though_rows_are_kept_per_process(agency_client, db):
    """Rows are rendered once per process for what they show: any change shown is a new row, never a
    stale one, and another language or time zone is another row."""
    from webapp.models import HostedAccount
    before = row_cells(agency_client.get("/?sort=created", headers={"HX-Request": "true"}).get_data(as_text=True), "alpha")
    assert before[1:4] == ["Alice Bakery alice@bake.test", "Plus · Monthly 1,000 contacts", "Active"]
    alpha = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == "alpha"))
    alpha.client_name, alpha.contact_limit, alpha.status = "Alice Patisserie", 2500, "disabled"
    alpha.period_end = TODAY + timedelta(days=9)
    db.session.commit()
    after = row_cells(agency_client.get("/?sort=created", headers={"HX-Request": "true"}).get_data(as_text=True), "alpha")
    assert after[1:4] == ["Alice Patisserie alice@bake.test", "Plus · Monthly 2,500 contacts", "Disabled"]
    assert after[5] == medium_date(TODAY + timedelta(days=9))
    assert after[6] != before[6]  # 2 500 contacts cost more than 1 000
    user = db.session.scalar(sa.select(User).where(User.email == "me@agency.test"))
    user.language, user.timezone = "fr", "Pacific/Kiritimati"
    db.session.commit()
    french = row_cells(agency_client.get("/?sort=created", headers={"HX-Request": "true"}).get_data(as_text=True), "alpha")
    assert french[3] == "Désactivé" and french[2].startswith("Plus · Mensuel")
    assert french[4] != after[4]  # the same moment, 14 hours ahead and written the French way


def test_kept_rows_are_bounded_and_the_row_template_sees_nothing_but_the_row(agency_client, app, monkeypatch):
    import jinja2.meta
    from webapp.web.resold import rows
    monkeypatch.setattr(rows, "ROWS_LIMIT", 3)
    rows._ROWS.clear()
    assert len(names(agency_client.get("/?status=all"))) == 8
    assert 0 < len(rows._ROWS) <= 3
    # What a row shows is its key: the template may read `row` and the app's helpers, nothing else.
    source = Path(app.jinja_loader.searchpath[0], rows.ROW_TEMPLATE).read_text()
    # (and what the viewer's role allows, part of the key)
    assert jinja2.meta.find_undeclared_variables(app.jinja_env.parse(source)) <= {"row", "may_manage", "may_charge",
                                                                                  "label", "_"}


def test_a_rows_login_button_posts_the_tables_one_form_with_its_token(agency_client):
    """Rows carry no CSRF token (they are shared between sessions): each Login button posts the
    table's one login-as form to its own account, without JavaScript (the form attribute)."""
    html = agency_client.get("/").get_data(as_text=True)
    form = re.search(r'<form id="row-login-as" method="post" target="_blank" hidden>(.*?)</form>', html, re.S)
    assert form and 'name="csrf_token"' in form.group(1)
    row = re.search(r'<tr data-account="alpha">(.*?)</tr>', html, re.S).group(1)
    assert "csrf_token" not in row
    action = re.search(r'<button[^>]*form="row-login-as" formaction="([^"]+)"', row).group(1)
    assert re.fullmatch(r"/accounts/\d+/login-as", action)
    response = agency_client.post(action, data={"csrf_token": csrf_token(form.group(0))})
    assert response.status_code in (302, 303)
    assert re.match(r"http://alpha\.localhost(:\d+)?/app/login-as\?token=", response.headers["Location"])


def test_the_paid_account_count_has_an_index_of_its_own(app, db):
    """B5: the paid-account count (every API list, quote and invoice) agrees between the billing rules and
    the Resold summary, and on PostgreSQL it is read from the partial index of paid accounts alone."""
    from webapp.services import resold
    from webapp.services.scope import AgencyScope
    agency, _ = make_agency("Counted", email="counted@agency.test")
    for i, (term, status) in enumerate([("monthly", "active"), ("annual", "cancelled"), ("monthly", "disabled"),
                                        ("monthly", "provisioning"), ("trial", "active"), ("monthly", "expired")]):
        make_account(agency, f"counted-{i}", plan_term=term, status=status)
    make_account(agency, "counted-parent", kind="parent")
    other, _ = make_agency("Not counted", email="not-counted@agency.test")
    make_account(other, "theirs")
    assert billing.paid_accounts(agency.id) == resold.paid_account_count(AgencyScope(agency.id)) == 4
    statement = sa.select(sa.func.count()).select_from(HostedAccount).where(HostedAccount.agency_id == agency.id,
                                                                           resold.PAID)
    if db.engine.dialect.name == "postgresql":
        # A handful of rows would be read in full anyway: make the planner pick among the indexes.
        db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        db.session.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
        sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = "\n".join(db.session.execute(sa.text("EXPLAIN " + sql)).scalars())
        assert "ix_hosted_accounts_paid" in plan, plan
        db.session.rollback()
    else:
        sql = db.session.scalar(sa.text("SELECT sql FROM sqlite_master WHERE name = 'ix_hosted_accounts_paid'"))
        assert "plan_term <> 'trial'" in sql and "kind = 'resold'" in sql


def test_the_row_menu_is_written_once_and_its_items_come_when_it_opens(agency_client, db):
    """Issue 25: the 25 rows carry no menu each; the table has one template of it, and a row's items (what the
    viewer may do to that account in its state) are fetched from /accounts/<id>/menu when it opens."""
    html = agency_client.get("/?status=all", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.count('<template id="row-menu-template">') == 1 and html.count("<details") == 1
    ids = {a.name: a.id for a in db.session.scalars(sa.select(HostedAccount))}
    menu = agency_client.get(f"/accounts/{ids['alpha']}/menu", headers={"HX-Request": "true"})
    assert menu.status_code == 200 and "HX-Request" in menu.headers["Vary"]
    items = menu.get_data(as_text=True)
    for item in ("Change", "Custom domain (CNAME)", "White-label settings", "Cancel this account",
                 "Open the account's page"):
        assert f">{item}<" in items, item
    assert f'href="/accounts/{ids["alpha"]}/cancel"' in items
    # An expired account cannot be cancelled; the menu says what can be done.
    assert "Cancel this account" not in agency_client.get(f"/accounts/{ids['delta']}/menu",
                                                          headers={"HX-Request": "true"}).get_data(as_text=True)
    # Without JavaScript (a plain request) it is the account's page, where every action is.
    plain = agency_client.get(f"/accounts/{ids['alpha']}/menu")
    assert plain.status_code == 302 and plain.headers["Location"].endswith(f"/accounts/{ids['alpha']}")
    # Another agency's account: 404, as for every page of an account.
    assert agency_client.get(f"/accounts/{ids['alpha-other']}/menu", headers={"HX-Request": "true"}).status_code == 404


def test_a_pages_login_urls_are_each_accounts_own(app, db, monkeypatch):
    """hosts.login_urls (a page's rows at once) gives what account_login_url gives, port and scheme included."""
    from webapp.models import utcnow
    from webapp.services import hosts
    agency, _ = make_agency()
    accounts = [make_account(agency, "plain-one"), make_account(agency, "own-domain", custom_domain="mail.own.test"),
                make_account(agency, "unverified", custom_domain="mail.unverified.test")]
    accounts[1].custom_domain_verified_at = utcnow()
    for settings in ({}, {"PUBLIC_PORT": 5000}, {"PREFERRED_URL_SCHEME": "https", "PUBLIC_PORT": 443}):
        for name, value in settings.items():
            monkeypatch.setitem(app.config, name, value)
        login_url = hosts.login_urls()
        assert [login_url(a) for a in accounts] == [hosts.account_login_url(a) for a in accounts]
    assert login_url(accounts[1]) == "https://mail.own.test/app/login"
