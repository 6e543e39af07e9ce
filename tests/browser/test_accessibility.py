"""Browser (issue 26, accessibility): axe-core checks every page of every role against WCAG 2.2 AA (tags
wcag2a, wcag2aa, wcag21a, wcag21aa, wcag22aa), in English and in French, at a desktop width (1280x800) and a
phone width (390x844), and the main dynamic states (an open row menu on the Resold tab, Add New submitted
empty, the pushdown wizard's step 1 error and step 2, a progress bar: an account being provisioned and the
branding run over the existing accounts). It prints a table of the pages and their violations and fails on
any serious or critical one; a moderate or minor one fails too unless ACCEPTED gives the reason.

Every page = every GET endpoint of the URL map (as tests/browser/test_csp.py walks it, with the ids of the
demo data, tests/browser/pages.py), for the role that opens it: the agency's Owner, support staff, a hosted
account's admin, and the visitor who is not signed in, each in both languages at both widths. The agency's
Admin, Billing and Member see the same pages with other menus and buttons: each of them is checked on every
page it may open (a 403 is skipped: the error page is checked for the Owner), in both languages at both
widths too. Where a role's page is the very document another role's was (the same HTML but for the CSRF
token), at the same width, it takes that verdict instead of a second run of axe. What is not a document
(a fragment htmx swaps in, a file) is skipped by itself; fragments are checked in place, inside their page,
by the dynamic states.

Languages: the dashboard's French comes from a second Owner and a second support user whose own language
is French, and from the browser's Accept-Language for the visitor; a hosted account's pages follow the
account's language, set to each in turn.

axe-core is served to Chromium from the app's own origin under a test-only path (context.route): the app's
Content-Security-Policy (script-src 'self') stays on, so the pages are checked as they are served, and the
app itself never serves the file. Only the Outbox's e-mail HTML view (a policy of its own that runs no
script) is read with that policy left out. The phone width is checked on the same load (the viewport is
resized; the layout follows the CSS media queries), and the pages of one URL are checked at once, one
renderer each, which keeps the run near 2.5 minutes on two cores."""
from __future__ import annotations

import hashlib
import http.client
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from webapp.services import demo

from ..helpers import PASSWORD, make_member, make_support
from .pages import SKIPPED, _args, _role, _sign_in, platform  # noqa: F401 (platform: a fixture)

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core-4.14.1" / "axe.min.js"
AXE_PATH = "/__axe-core-for-tests__/axe.min.js"  # answered by the test's route, never by the app
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
FAILING = ("serious", "critical")
# A moderate or minor violation accepted: {rule id: reason}. Empty: none is accepted today.
ACCEPTED: dict[str, str] = {}
TEAM = ("admin", "billing", "member")
# Not pages of the app: a template's own HTML (the agency's or the client's e-mail design), shown only inside
# a sandboxed frame of its page, which carries the frame's title; axe checks that page, not the frame's inside
# (iframes: false). The e-mails the app writes are checked (the Outbox's HTML view).
FRAME_CONTENT: dict[str, str] = {}  # template previews carry their own lang and title (preview_response)

# Started without waiting (several pages' renderers run axe at once), then collected.
START = """(tags) => {
  window.__axe = axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"], iframes: false})
    .then((result) => result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => n.target.join(" ")), html: v.nodes.slice(0, 2).map((n) => n.html.slice(0, 160)),
      data: v.nodes.map((n) => n.any.concat(n.all, n.none).map((c) => c.message).join(" "))})));
}"""
COLLECT = "() => window.__axe"
# The document as axe would read it, but for what differs from one login to the next (the CSRF token): two
# viewers whose pages are the same document at the same width get the same verdict, so the second is not run.
DOCUMENT = """() => {
  const copy = document.documentElement.cloneNode(true);
  copy.querySelectorAll("input[name=csrf_token]").forEach((el) => el.removeAttribute("value"));
  return copy.outerHTML;
}"""


class Axe:
    """Runs axe on pages and keeps a row per (what, role, language, width) with its violations."""

    def __init__(self):
        self.rows: list[tuple[str, str, str, str, list[dict]]] = []
        self.verdicts: dict[tuple[str, int], list[dict]] = {}  # (document, width) -> violations
        self.same = 0  # checks answered by an identical document's verdict

    def batch(self, checks) -> None:
        """checks: (page, what, role, lang, widths), each on its own page, already loaded. Every page's desktop
        run starts before the first is collected, then every phone run. A document identical to one already
        checked at that width (another role that sees the same page) takes its verdict."""
        documents = [hashlib.sha256(page.evaluate(DOCUMENT).encode()).hexdigest() for page, *_ in checks]
        for page, *_ in checks:
            if page.evaluate("typeof axe") == "undefined":
                page.add_script_tag(url=AXE_PATH)
        for size in (DESKTOP, PHONE):
            todo = [(c, (doc, size["width"])) for c, doc in zip(checks, documents) if size in c[4]]
            running = {}
            for (page, *_), key in todo:
                if key in self.verdicts or key in running:
                    continue
                if page.viewport_size != size:
                    page.set_viewport_size(size)
                page.evaluate(START, TAGS)
                running[key] = page
            for key, page in running.items():
                self.verdicts[key] = page.evaluate(COLLECT)
            for (page, what, role, lang, _widths), key in todo:
                if running.get(key) is not page:
                    self.same += 1
                self.rows.append((what, role, lang, f"{size['width']}", self.verdicts[key]))
        for page, *_ in checks:
            if page.viewport_size != DESKTOP:
                page.set_viewport_size(DESKTOP)

    def check(self, page, what: str, role: str, lang: str, widths=(DESKTOP, PHONE)) -> None:
        self.batch([(page, what, role, lang, widths)])

    def table(self) -> str:
        lines = [f"{'page':<44} {'role':<16} {'lang':<4} {'width':<5} violations"]
        for what, role, lang, width, found in self.rows:
            if found:
                text = "; ".join(f"{v['id']} ({v['impact']}, {len(v['nodes'])}: {', '.join(v['nodes'][:3])})"
                                 for v in found)
                lines.append(f"{what:<44} {role:<16} {lang:<4} {width:<5} {text}")
        clean = sum(1 for row in self.rows if not row[4])
        lines.append(f"{len(self.rows)} checks ({self.same} of them the same document as one checked before), "
                     f"{clean} without a violation")
        return "\n".join(lines)

    def failures(self) -> list[str]:
        return [f"{what} [{role} {lang} {width}] {v['id']} ({v['impact']}): {v['help']} — {v['nodes'][:5]} "
                f"{v['html']} {v['data'][:2]}"
                for what, role, lang, width, found in self.rows for v in found
                if v["impact"] in FAILING or v["id"] not in ACCEPTED]


def _context(browser, base_url: str):
    context = browser.new_context(base_url=base_url, viewport=DESKTOP, extra_http_headers={"Accept-Language": "en"})
    body = AXE.read_bytes()
    context.route(f"**{AXE_PATH}", lambda route: route.fulfill(body=body, content_type="text/javascript"))
    context.route("**/html", _without_own_policy)
    page = context.new_page()
    page.set_default_timeout(10000)
    return page


def _without_own_policy(route) -> None:
    """The e-mail and template previews (…/html, shown in a sandboxed frame) carry a policy of their own that
    runs no script at all; axe reads them with that policy left out (they have no script of their own)."""
    if route.request.resource_type != "document":
        route.continue_()
        return
    # Fetched here, not by route.fetch: Playwright's own process does not resolve *.localhost as Chromium does.
    url = urlsplit(route.request.url)
    connection = http.client.HTTPConnection("127.0.0.1", url.port, timeout=10)
    connection.request("GET", f"{url.path}?{url.query}" if url.query else url.path,
                       headers={**route.request.headers, "host": url.netloc})
    answer = connection.getresponse()
    route.fulfill(status=answer.status, body=answer.read(), headers={
        k: v for k, v in answer.getheaders() if k.lower() not in ("content-security-policy", "content-length")})
    connection.close()


def _set_client_language(app, lang: str) -> None:
    """The hosted account's language: its client's pages are in it, whatever the browser says."""
    from webapp.extensions import db
    from webapp.models import HostedAccount
    with app.app_context():
        db.session.execute(sa.update(HostedAccount).values(language=lang))
        db.session.commit()


def _is_document(page) -> bool:
    """A page a person reads: an HTML document of its own (a fragment swapped in by htmx has no doctype)."""
    return page.evaluate("document.contentType === 'text/html' && document.doctype !== null")


@pytest.mark.timeout(600)  # one test walks every page of every role: ~3-4 minutes on two cores
def test_every_page_of_every_role_passes_axe(app, browser, live_server, platform):
    started = time.monotonic()
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Agency, User
        agency = db.session.get(Agency, platform.agency_id)
        emails = {f"{role}/{lang}": make_member(agency, role).email for role in TEAM for lang in ("en", "fr")}
        # The same roles in French: a second Owner and a second support user whose own language is French.
        emails["agency/fr"] = make_member(agency, "owner").email
        emails["support/fr"] = make_support("support-fr@agencyhq.test").email
        french = [email for viewer, email in emails.items() if viewer.endswith("/fr")]
        db.session.execute(sa.update(User).where(User.email.in_(french)).values(language="fr"))
        db.session.commit()
    client_base = live_server.replace("localhost", f"{demo.CLIENT_ACCOUNT}.localhost")
    team = tuple(f"{role}/{lang}" for role in TEAM for lang in ("en", "fr"))
    viewers = ("agency/en", "agency/fr", *team, "support/en", "support/fr",
               "anonymous/en", "anonymous/fr", "client", "client_anonymous")
    pages = {v: _context(browser, client_base if v.startswith("client") else live_server) for v in viewers}
    _sign_in(pages["agency/en"], "/login", "E-mail", demo.AGENCY_EMAIL, demo.AGENCY_PASSWORD)
    _sign_in(pages["support/en"], "/login", "E-mail", demo.SUPPORT_EMAIL, demo.SUPPORT_PASSWORD)
    _sign_in(pages["client"], "/app/login", "Username", "admin", demo.CLIENT_PASSWORD)
    for viewer in ("agency/fr", "support/fr", *team):
        _sign_in(pages[viewer], "/login", "E-mail", emails[viewer], PASSWORD)
    for viewer in ("agency/fr", "support/fr", "anonymous/fr", *(v for v in team if v.endswith("/fr"))):
        # the browser asks for French from now on
        pages[viewer].context.set_extra_http_headers({"Accept-Language": "fr"})
    axe = Axe()
    with app.test_request_context(base_url=live_server):
        from flask import url_for
        rules = sorted((r for r in app.url_map.iter_rules() if "GET" in r.methods and not r.endpoint.startswith("api.")
                        and r.endpoint not in SKIPPED and r.endpoint not in FRAME_CONTENT), key=lambda r: r.rule)
        paths = [(rule.endpoint, url_for(rule.endpoint, **_args(rule, platform))) for rule in rules]

    def visit(viewer: str, path: str, client_lang: str = ""):
        page = pages[viewer]
        answer = page.goto(path)
        assert answer is not None and answer.status < 500, f"{path}: {answer and answer.status}"
        if viewer.split("/")[0] in TEAM and answer.status == 403:
            return None  # not a page of this role (the error page is checked for the Owner)
        page.wait_for_load_state("load")
        if not _is_document(page):
            return None
        role, _, lang = viewer.partition("/")
        return (page, path, "owner" if role == "agency" else role, lang or client_lang, (DESKTOP, PHONE))

    # The dashboard's roles: each page loaded by every viewer that opens it, axe run on them at once.
    for endpoint, path in paths:
        role = _role(endpoint)
        if role.startswith("client"):
            continue
        who = ("agency/en", "agency/fr", *team) if role == "agency" else (f"{role}/en", f"{role}/fr")
        axe.batch([c for c in (visit(v, path) for v in who) if c])
    for lang in ("en", "fr"):
        page = pages[f"agency/{lang}"]
        for path in ("/no-such-page", "/support"):  # the error pages: a 404, another role's page
            page.goto(path)
            axe.check(page, f"{path} (error page)", "owner", lang)
        _dynamic_states(app, page, axe, lang, platform)
    # A hosted account's pages, in its language (one language at a time: it is the account's).
    for client_lang in ("en", "fr"):
        _set_client_language(app, client_lang)
        for endpoint, path in paths:
            if _role(endpoint).startswith("client"):
                axe.batch([c for c in [visit(_role(endpoint), path, client_lang)] if c])
    for page in pages.values():
        page.context.close()
    print(f"\naxe-core: {len(axe.rows)} checks in {time.monotonic() - started:.0f} s")
    print(axe.table())
    failures = axe.failures()
    assert not failures, "\n".join(failures)


def _dynamic_states(app, owner, axe, lang, data) -> None:
    # An open row menu on the Resold tab.
    owner.goto("/")
    owner.wait_for_load_state("load")
    owner.locator("details.row-menu summary").first.click()
    owner.locator("details.row-menu[open] .row-menu-items[data-loaded]").first.wait_for()  # its items, fetched
    axe.check(owner, "/ (a row menu open)", "owner", lang)
    # A form with errors: Add New submitted empty.
    owner.goto("/accounts/new")
    owner.locator("#add-pay").click()
    owner.wait_for_load_state("load")
    assert owner.locator(".is-invalid").count() > 0, "Add New submitted empty shows no error"
    axe.check(owner, "/accounts/new (submitted empty)", "owner", lang)
    # The pushdown wizard: step 1's Continue without a choice (its error), then step 2.
    owner.goto("/automations/new")
    owner.get_by_role("button", name="Continuer" if lang == "fr" else "Continue").click()
    owner.wait_for_load_state("load")
    axe.check(owner, "/automations/new (no choice)", "owner", lang)
    owner.goto("/automations/new")
    owner.locator("input[name=automation_id]").first.check()
    owner.get_by_role("button", name="Continuer" if lang == "fr" else "Continue").click()
    owner.wait_for_url("**continue=1**")
    owner.locator("#wizard").wait_for()
    axe.check(owner, "/automations/new (step 2)", "owner", lang)
    # Progress bars: an account being provisioned, the branding run over the existing accounts.
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Agency
        from webapp.services import keys, operations, provisioning

        from ..helpers import make_account
        agency = db.session.get(Agency, data.agency_id)
        account = make_account(agency, f"axe-new-{lang}", status="provisioning", language=lang)
        provisioning.submit(account)
        if operations.latest("apply_branding", agency_id=agency.id) is None:
            operations.submit("apply_branding", key=keys.branding_run(agency.id), agency_id=agency.id,
                              subject=("agency", agency.id))
        db.session.commit()
        account_id = account.id
    owner.goto(f"/accounts/{account_id}")
    owner.locator("#provisioning [role=progressbar]").wait_for()
    axe.check(owner, "/accounts/<new> (provisioning)", "owner", lang)
    owner.goto("/settings/branding")
    owner.locator("#apply-progress [role=progressbar]").wait_for()
    axe.check(owner, "/settings/branding (updating accounts)", "owner", lang)
