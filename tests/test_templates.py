"""Templates (W8, W9) and the account's Automations page (P8): the agency's templates for new
accounts of three kinds, share links made, imported and revoked, HTML sanitized to an e-mail-safe
allowlist and only shown sandboxed, and a corpus of XSS payloads that never survives anywhere."""
from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from webapp.models import AuditEvent, Automation, EmailTemplate, Operation, TemplateShareLink
from webapp.services import branding, operations, provisioning, templates
from webapp.services.audit import Actor
from webapp.services.errors import NotFound

from .helpers import csrf_token, login, make_account, make_agency

ACTOR = Actor("user:0", "tests")
ACME = "http://acme.localhost"
BETA = "http://beta.localhost"

# Known XSS payloads (OWASP filter-evasion cheat sheet, PortSwigger's list, mutation XSS and
# template-injection probes). Each must come out of every path inert.
XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.test/xss.js></SCRIPT>",
    "<script/src=data:,alert(1)>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    "<IMG \"\"\"><SCRIPT>alert(\"XSS\")</SCRIPT>\">",
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>",
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    "<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
    "<SCRIPT/XSS SRC=\"http://evil.test/xss.js\"></SCRIPT>",
    "<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert(\"XSS\")>",
    "<<SCRIPT>alert(\"XSS\");//<</SCRIPT>",
    "<SCRIPT SRC=http://evil.test/xss.js?< B >",
    "<IMG SRC=\"`<javascript:alert>`('XSS')\"",
    "</TITLE><SCRIPT>alert(\"XSS\");</SCRIPT>",
    "<INPUT TYPE=\"IMAGE\" SRC=\"javascript:alert('XSS');\">",
    "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    "<IMG DYNSRC=\"javascript:alert('XSS')\">",
    "<IMG LOWSRC=\"javascript:alert('XSS')\">",
    "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    "<svg/onload=alert('XSS')>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<BODY ONLOAD=alert('XSS')>",
    "<BGSOUND SRC=\"javascript:alert('XSS');\">",
    "<LINK REL=\"stylesheet\" HREF=\"javascript:alert('XSS');\">",
    "<STYLE>@import'http://evil.test/xss.css';</STYLE>",
    "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=javascript:alert('XSS');\">",
    "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
    "<IFRAME SRC=# onmouseover=\"alert(document.cookie)\"></IFRAME>",
    "<FRAMESET><FRAME SRC=\"javascript:alert('XSS');\"></FRAMESET>",
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">",
    "<TABLE><TD BACKGROUND=\"javascript:alert('XSS')\">",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<DIV STYLE=\"width: expression(alert('XSS'));\">",
    "<IMG STYLE=\"xss:expr/*XSS*/ession(alert('XSS'))\">",
    "<p style=\"color:red;background:url(https://evil.test/track.png)\">tracked</p>",
    "<BASE HREF=\"javascript:alert('XSS');//\">",
    "<OBJECT TYPE=\"text/x-scriptlet\" DATA=\"http://evil.test/scriptlet.html\"></OBJECT>",
    "<EMBED SRC=\"data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dH A6Ly93d3cudzMub3JnLzIwMDAvc3ZnIiB4bWxucz0iaHR0cDovL3d3dy53My5vcmcv\" type=\"image/svg+xml\" AllowScriptAccess=\"always\"></EMBED>",
    "<a href=\"javascript:alert(1)\">click</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">click</a>",
    "<a href=\"&#106;avascript:alert(1)\">click</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">click</a>",
    "<a href=\"vbscript:msgbox(1)\">click</a>",
    "<form action=\"javascript:alert(1)\"><button>go</button></form>",
    "<button formaction=javascript:alert(1)>go</button>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)>",
    "<audio src=x onerror=alert(1)>",
    "<marquee onstart=alert(1)>x</marquee>",
    "<isindex type=image src=1 onerror=alert(1)>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<template><img src=x onerror=alert(1)></template>",
    "<xmp><img src=x onerror=alert(1)></xmp>",
    "<textarea><img src=x onerror=alert(1)></textarea>",
    "<div data-x=\"\" onmouseover=alert(1)>hover</div>",
    "<td background=x onclick=alert(1)>",
    "\"><script>alert(1)</script>",
    "'><img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "{{7*7}}",
    "{{ config }}",
    "{% for x in range(3) %}{{x}}{% endfor %}",
    "${7*7}",
    "<!--<img src=x onerror=alert(1)>-->",
    "<img src=\"x\" alt=\"\" onerror=\"alert(1)\"/>",
    "<object data=\"javascript:alert(1)\">",
    "<a href=\"https://ok.test/\" onclick=\"alert(1)\">ok</a>",
]


class _Inventory(HTMLParser):
    """What a browser would find in a page: tags, attributes and URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: (v or "") for k, v in attrs}))

    handle_startendtag = handle_starttag


def assert_inert(html: str, own_scripts: set[str] = frozenset()) -> None:
    """No script but our own, no event handler, no script URL, no frame or object from content."""
    parser = _Inventory()
    parser.feed(html)
    for tag, attrs in parser.tags:
        if tag == "script":
            assert attrs.get("src") in own_scripts, f"a script from content: {attrs}"
        assert tag not in {"object", "embed", "base", "frame", "frameset", "meta", "link", "svg", "math"} or \
            (tag in {"meta", "link"} and _ours(attrs)), f"<{tag} {attrs}>"
        if tag == "iframe":
            assert attrs.get("sandbox") == "", "an iframe that is not fully sandboxed"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}={value!r}>"
            squashed = re.sub(r"[\s\x00-\x1f]", "", value).lower()
            if name in {"href", "src", "action", "formaction", "background", "data", "dynsrc", "lowsrc"}:
                assert not squashed.startswith(("javascript:", "vbscript:", "data:text")), f"<{tag} {name}={value!r}>"
            if name == "style":
                assert "expression" not in squashed and "url(" not in squashed, f"<{tag} style={value!r}>"


def _ours(attrs: dict) -> bool:
    return attrs.get("href", "").startswith(("/static/", "/app/brand.css?v=")) or "charset" in attrs or attrs.get("name") in {
        "viewport", "referrer", "color-scheme", "htmx-config", "csrf-token"} or attrs.get("rel") == "icon"


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_sanitizer_leaves_every_payload_inert(payload):
    clean = templates.sanitize_html(payload)
    assert_inert(clean)
    lowered = " ".join(re.findall(r"<[^>]*>", clean)).lower()  # the markup; text is only ever text
    for needle in ("<script", "<iframe", "<object", "<embed", "<form", "<svg", "<style", "<meta", "<link", "<base",
                   "javascript:", "vbscript:", "onerror", "onload", "evil.test"):
        assert needle not in lowered, (needle, clean)


def test_the_corpus_is_big_enough_and_keeps_what_email_needs():
    assert len(XSS_PAYLOADS) >= 50
    kept = templates.sanitize_html(
        '<table width="600" cellpadding="0" style="border-collapse:collapse"><tr><td bgcolor="#ffffff" '
        'style="color:#333;font-size:14px;padding:8px">Hi {{first_name}} <a href="https://shop.test/?a=1&b=2" '
        'target="_blank">Shop</a> <img src="https://cdn.test/logo.png" alt="Logo" width="120"></td></tr></table>')
    assert 'width="600"' in kept and "border-collapse:collapse" in kept and 'bgcolor="#ffffff"' in kept
    assert "{{first_name}}" in kept and 'href="https://shop.test/?a=1&amp;b=2"' in kept
    assert 'rel="noopener noreferrer"' in kept and 'src="https://cdn.test/logo.png"' in kept


@pytest.fixture
def agency_user(client, db):
    agency, user = make_agency(email="tpl@agency.test")
    login(client, "tpl@agency.test")
    return agency


def _post(client, path, data, base_url="http://localhost", form_page=None):
    page = client.get(form_page or path, base_url=base_url)
    return client.post(path, base_url=base_url, data={"csrf_token": csrf_token(page.get_data(as_text=True)), **data})


def _count(db, model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_basic_template_is_sanitized_previewed_sandboxed_and_copied_into_new_accounts(client, db, agency_user):
    evil = '<h1 onclick="alert(1)">Welcome {{7*7}}</h1><script>alert(2)</script><p>Body</p>'
    response = _post(client, "/settings/templates/new?kind=basic",
                     {"basic-name": "Welcome", "basic-tags": "onboarding, welcome, Onboarding", "basic-html": evil})
    assert response.status_code == 303
    row = db.session.scalar(sa.select(EmailTemplate))
    assert row.kind == "basic" and row.account_id is None and row.agency_id == agency_user.id
    assert row.html == "<h1>Welcome {{7*7}}</h1><p>Body</p>" and row.tags == "onboarding, welcome"

    listing = client.get("/settings/templates").get_data(as_text=True)
    assert "Welcome" in listing and "does not copy templates" in listing
    shown = client.get(f"/settings/templates/{row.id}").get_data(as_text=True)
    assert 'sandbox=""' in shown and f"/settings/templates/{row.id}/html" in shown
    raw = client.get(f"/settings/templates/{row.id}/html")
    assert raw.headers["Content-Security-Policy"].startswith("sandbox;") and "script" not in raw.get_data(as_text=True)
    assert "{{7*7}}" in raw.get_data(as_text=True) and "49" not in raw.get_data(as_text=True)

    preview = _post(client, "/settings/templates/preview", {"basic-html": evil}, form_page="/settings/templates/new")
    body = preview.get_data(as_text=True)
    # Its own document, under the previews' own policy (sandboxed, nothing but styles and pictures).
    assert preview.status_code == 200 and preview.headers["Content-Security-Policy"].startswith("sandbox;")
    assert "<script" not in body and "alert(2)" not in body and "<h1>Welcome {{7*7}}</h1>" in body
    assert_inert(body)

    # W8: copied into an account provisioned afterwards, once, however often the step runs.
    account = make_account(agency_user, "fresh-one", status="provisioning")
    op = provisioning.submit(account)
    db.session.commit()
    operations.run(op.id)
    copies = db.session.scalars(sa.select(EmailTemplate).where(EmailTemplate.account_id == account.id)).all()
    assert [(c.name, c.html, c.source_template_id) for c in copies] == [(row.name, row.html, row.id)]
    assert db.session.get(Operation, op.id).status == "succeeded"


@pytest.mark.parametrize("data, field, message", [
    ({"basic-name": "", "basic-html": "<p>x</p>"}, "name", "Give the template a name."),
    ({"basic-name": "x" * 121, "basic-html": "<p>x</p>"}, "name", "at most"),
    ({"basic-name": "Empty", "basic-html": "<script>alert(1)</script>"}, "html", "nothing that can be shown"),
    ({"basic-name": "Huge", "basic-html": "<p>" + "x" * 200_001 + "</p>"}, "html", "too long"),
])
def test_bad_basic_templates_are_refused_next_to_the_field_and_nothing_is_written(client, db, agency_user, data,
                                                                                   field, message):
    response = _post(client, "/settings/templates/new?kind=basic", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'is-invalid' in html
    assert _count(db, EmailTemplate) == 0


def _share(client, db, template_id, base_url=ACME):
    page = client.get(f"/app/templates/{template_id}", base_url=base_url)
    response = client.post(f"/app/templates/{template_id}/share", base_url=base_url,
                           data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 201
    return re.search(r'id="share-link-value" readonly value="([^"]+)"', response.get_data(as_text=True)).group(1)


def _client_login(client, base_url, password):
    page = client.get("/app/login", base_url=base_url)
    response = client.post("/app/login", base_url=base_url, data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "username": "admin", "password": password})
    assert response.status_code == 303


def test_share_link_import_into_another_account_and_revoke(app, db):
    agency, _ = make_agency()
    acme = make_account(agency, "acme", admin_password="acme-secret-pass")
    beta = make_account(make_agency("Other agency")[0], "beta", admin_password="beta-secret-pass")
    a, b = app.test_client(), app.test_client()
    _client_login(a, ACME, "acme-secret-pass")
    _client_login(b, BETA, "beta-secret-pass")

    created = _post(a, "/app/templates/new", {"name": "Promo {{7*7}}", "tags": "sale",
                                              "html": '<p style="color:red" onmouseover="x()">Sale!</p>'},
                    base_url=ACME)
    assert created.status_code == 303
    source = db.session.scalar(sa.select(EmailTemplate).where(EmailTemplate.account_id == acme.id))
    assert source.html == '<p style="color:red">Sale!</p>'
    listing = a.get("/app/templates", base_url=ACME).get_data(as_text=True)
    assert "Promo {{7*7}}" in listing and "Promo 49" not in listing
    for path in ("/app/templates", "/app/templates/new", f"/app/templates/{source.id}", "/app/automations"):
        assert "AgencyHQ" not in a.get(path, base_url=ACME).get_data(as_text=True), path  # white label

    link = _share(a, db, source.id)
    assert link.startswith("http://acme.localhost") and "/app/shared/" in link
    token = link.rsplit("/", 1)[1]
    stored = db.session.scalar(sa.select(TemplateShareLink))
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in stored.token_hash
    assert len(token) >= 22  # at least 128 bits
    # Shown once: the page afterwards lists the link without it.
    assert token not in a.get(f"/app/templates/{source.id}", base_url=ACME).get_data(as_text=True)

    # The public page the link opens, on the sharing account's host, sandboxed.
    public = b.get(link.replace("http://acme.localhost", ""), base_url=ACME)
    assert public.status_code == 200 and 'sandbox=""' in public.get_data(as_text=True)

    imported = _post(b, "/app/templates", {"link": link}, base_url=BETA)
    assert imported.status_code == 303
    copy = db.session.scalar(sa.select(EmailTemplate).where(EmailTemplate.account_id == beta.id))
    assert (copy.name, copy.html, copy.kind, copy.source_template_id) == (source.name, source.html, "designer",
                                                                           source.id)
    again = _post(b, "/app/templates", {"link": token}, base_url=BETA)
    assert again.status_code == 409 and "already imported" in again.get_data(as_text=True)
    own = _post(a, "/app/templates", {"link": link}, base_url=ACME)
    assert own.status_code == 409 and "already in this account" in own.get_data(as_text=True)

    revoked = _post(a, f"/app/templates/{source.id}/links/{stored.id}/revoke", {}, base_url=ACME,
                    form_page=f"/app/templates/{source.id}")
    assert revoked.status_code == 303
    assert db.session.scalar(sa.select(TemplateShareLink.revoked_at)) is not None
    third = make_account(agency, "gamma", admin_password="gamma-secret-pass")
    g = app.test_client()
    _client_login(g, "http://gamma.localhost", "gamma-secret-pass")
    refused = _post(g, "/app/templates", {"link": link}, base_url="http://gamma.localhost")
    assert refused.status_code == 422 and "revoked" in refused.get_data(as_text=True)
    assert _count(db, EmailTemplate, EmailTemplate.account_id == third.id) == 0
    assert b.get(link.replace("http://acme.localhost", ""), base_url=ACME).status_code == 410

    for bad in ("", "not a link", "http://acme.localhost/app/shared/" + "A" * 30):
        response = _post(g, "/app/templates", {"link": bad}, base_url="http://gamma.localhost")
        assert response.status_code == 422
    events = {e.action for e in db.session.scalars(sa.select(AuditEvent))}
    assert {"template_shared", "template_imported", "template_share_revoked"} <= events


def test_a_client_cannot_reach_another_accounts_templates(app, db):
    agency, _ = make_agency()
    acme = make_account(agency, "acme", admin_password="acme-secret-pass")
    beta = make_account(agency, "beta", admin_password="beta-secret-pass")
    other = templates.create_in_account(beta, templates.TemplateInput("Beta only", "", "<p>b</p>"), ACTOR)
    a = app.test_client()
    _client_login(a, ACME, "acme-secret-pass")
    for path in (f"/app/templates/{other.id}", f"/app/templates/{other.id}/html", "/app/templates/abc"):
        assert a.get(path, base_url=ACME).status_code == 404
    page = a.get("/app/templates", base_url=ACME).get_data(as_text=True)
    assert a.post(f"/app/templates/{other.id}/delete", base_url=ACME,
                  data={"csrf_token": csrf_token(page)}).status_code == 404
    assert a.post(f"/app/templates/{other.id}/share", base_url=ACME,
                  data={"csrf_token": csrf_token(page)}).status_code == 404
    assert _count(db, EmailTemplate) == 1 and _count(db, TemplateShareLink) == 0
    assert acme.id != beta.id


def test_designer_and_copy_kinds_on_the_dashboard(client, db, agency_user):
    mine = make_account(agency_user, "mine", admin_password="mine-secret-pass")
    source = templates.create_in_account(mine, templates.TemplateInput("Newsletter", "news", "<p>News</p>"), ACTOR)
    _link, token = templates.share(mine, source.id, ACTOR)

    designer = _post(client, "/settings/templates/new?kind=designer",
                     {"designer-link": f"http://mine.localhost/app/shared/{token}", "designer-name": ""})
    assert designer.status_code == 303
    again = _post(client, "/settings/templates/new?kind=designer", {"designer-link": token})
    assert again.status_code == 409 and "already one of yours" in again.get_data(as_text=True)

    page = client.get("/settings/templates/new?kind=copy&account=mine").get_data(as_text=True)
    assert "Newsletter" in page and "Copy to my templates" in page
    copied = client.post("/settings/templates/new?kind=copy&account=mine", data={
        "csrf_token": csrf_token(page), "account_id": mine.id, "template_id": source.id})
    assert copied.status_code == 303
    rows = db.session.scalars(sa.select(EmailTemplate).where(EmailTemplate.account_id.is_(None))
                              .order_by(EmailTemplate.id)).all()
    assert [(r.kind, r.name, r.source_template_id) for r in rows] == [("designer", "Newsletter", source.id),
                                                                      ("copy", "Newsletter", source.id)]

    # Another agency's account or template: not found, nothing written.
    foreign = make_account(make_agency("Foreign")[0], "foreign")
    theirs = templates.create_in_account(foreign, templates.TemplateInput("Theirs", "", "<p>t</p>"), ACTOR)
    assert "None of your accounts" in client.get("/settings/templates/new?kind=copy&account=foreign").get_data(
        as_text=True)
    refused = client.post("/settings/templates/new?kind=copy", data={
        "csrf_token": csrf_token(page), "account_id": foreign.id, "template_id": theirs.id})
    assert refused.status_code == 404
    refused = client.post("/settings/templates/new?kind=copy", data={
        "csrf_token": csrf_token(page), "account_id": mine.id, "template_id": theirs.id})
    assert refused.status_code == 404
    assert _count(db, EmailTemplate, EmailTemplate.account_id.is_(None)) == 2

    # Deleting a source keeps the copies made from it.
    deleted = _post(client, f"/settings/templates/{rows[0].id}/delete", {}, form_page="/settings/templates")
    assert deleted.status_code == 303
    assert db.session.get(EmailTemplate, rows[1].id) is not None
    client_templates_before = _count(db, EmailTemplate, EmailTemplate.account_id == mine.id)
    templates.delete_in_account(mine, source.id, ACTOR)
    assert _count(db, EmailTemplate, EmailTemplate.account_id == mine.id) == client_templates_before - 1
    db.session.expire_all()
    assert db.session.get(EmailTemplate, rows[1].id).source_template_id is None


def test_another_agencys_templates_are_not_found(client, db, agency_user):
    other, _ = make_agency("Other")
    theirs = templates.add_basic(other.id, templates.TemplateInput("Theirs", "", "<p>x</p>"), ACTOR)
    for path in (f"/settings/templates/{theirs.id}", f"/settings/templates/{theirs.id}/html"):
        assert client.get(path).status_code == 404
    response = _post(client, f"/settings/templates/{theirs.id}/delete", {}, form_page="/settings/templates")
    assert response.status_code == 404
    assert db.session.get(EmailTemplate, theirs.id) is not None


def test_the_accounts_automations_page_lists_and_deletes(app, db):
    agency, _ = make_agency()
    acme = make_account(agency, "acme", admin_password="acme-secret-pass")
    beta = make_account(agency, "beta")
    mine = Automation(account_id=acme.id, name="Welcome series {{7*7}}", active=True)
    off = Automation(account_id=acme.id, name="Birthday", active=False)
    theirs = Automation(account_id=beta.id, name="Theirs", active=True)
    db.session.add_all([mine, off, theirs])
    db.session.commit()
    a = app.test_client()
    _client_login(a, ACME, "acme-secret-pass")
    page = a.get("/app/automations", base_url=ACME).get_data(as_text=True)
    assert "Welcome series {{7*7}}" in page and "Birthday" in page and "Theirs" not in page
    assert "Active" in page and "Inactive" in page
    assert a.post(f"/app/automations/{theirs.id}/delete", base_url=ACME,
                  data={"csrf_token": csrf_token(page)}).status_code == 404
    done = a.post(f"/app/automations/{mine.id}/delete", base_url=ACME, data={"csrf_token": csrf_token(page)})
    assert done.status_code == 303
    db.session.expire_all()
    assert db.session.get(Automation, mine.id).deleted_at is not None
    assert db.session.get(Automation, theirs.id).deleted_at is None
    table = re.search(r'<table.*</table>', a.get("/app/automations", base_url=ACME).get_data(as_text=True), re.S)
    assert "Birthday" in table.group(0) and "Welcome series" not in table.group(0)
    assert a.post(f"/app/automations/{mine.id}/delete", base_url=ACME,
                  data={"csrf_token": csrf_token(page)}).status_code == 404


def test_branding_fields_and_template_names_with_payloads_render_inert(app, client, db):
    """Every payload through every branding field, the login page and the account's pages."""
    agency, _ = make_agency(email="xss@agency.test")
    account = make_account(agency, "acme", admin_password="acme-secret-pass")
    chunks = [XSS_PAYLOADS[i:i + 12] for i in range(0, len(XSS_PAYLOADS), 12)]
    for chunk in chunks:
        text = "".join(chunk)
        branding.override(account, branding.BrandingInput(
            product_name=text[:80], login_headline=text[:120], login_text=text[:1000]), ACTOR)
        login_page = client.get("/app/login", base_url=ACME).get_data(as_text=True)
        assert_inert(login_page, own_scripts=_own_scripts(login_page))
        visible = re.sub(r'brand\.css\?v=\d+|value="[^"]*"|"X-CSRFToken": "[^"]*"', "", login_page)
        assert "{{7*7}}" not in text or "49" not in visible  # random tokens and versions left out
    for payload in XSS_PAYLOADS:
        templates.create_in_account(account, templates.TemplateInput(payload[:120], payload[:500],
                                                                     "<p>ok</p>" + payload), ACTOR)
    a = app.test_client()
    _client_login(a, ACME, "acme-secret-pass")
    listing = a.get("/app/templates", base_url=ACME).get_data(as_text=True)
    assert_inert(listing, own_scripts=_own_scripts(listing))
    for row in db.session.scalars(sa.select(EmailTemplate)):
        assert_inert(row.html)
        shown = a.get(f"/app/templates/{row.id}", base_url=ACME).get_data(as_text=True)
        assert_inert(shown, own_scripts=_own_scripts(shown))


def _own_scripts(html: str) -> set[str]:
    return {src for src in re.findall(r'<script src="([^"]+)"', html) if src.startswith("/static/")}


# ---- editing templates, and "Add my templates" switched on and off (issue 23, W8) ---------------

def _provision(db, agency, name):
    account = make_account(agency, name, status="provisioning")
    op = provisioning.submit(account)
    db.session.commit()
    operations.run(op.id)
    assert db.session.get(Operation, op.id).status == "succeeded"
    return account


def _names_in(db, account):
    return [r.name for r in db.session.scalars(sa.select(EmailTemplate).where(EmailTemplate.account_id == account.id)
                                                .order_by(EmailTemplate.id))]


def test_an_agency_template_is_edited_sanitized_and_audited_and_only_new_accounts_get_the_new_version(
        client, db, agency_user):
    row = templates.add_basic(agency_user.id, templates.TemplateInput("Welcome", "a", "<p>First</p>"), ACTOR)
    before = _provision(db, agency_user, "before-edit")
    listing = client.get("/settings/templates").get_data(as_text=True)
    assert f"/settings/templates/{row.id}/edit" in listing
    assert f"/settings/templates/{row.id}/edit" in client.get(f"/settings/templates/{row.id}").get_data(as_text=True)
    page = client.get(f"/settings/templates/{row.id}/edit").get_data(as_text=True)
    assert 'value="Welcome"' in page and "&lt;p&gt;First&lt;/p&gt;" in page  # the form holds what is kept
    assert "/settings/templates/preview" in page  # the same live preview as when adding

    edited = _post(client, f"/settings/templates/{row.id}/edit", {
        "basic-name": "  Welcome   back ", "basic-tags": "news, News, promo",
        "basic-html": '<h1 onclick="alert(1)">Hi {{7*7}}</h1><script>alert(2)</script><a href="javascript:x()">x</a>'})
    assert edited.status_code == 303 and edited.headers["Location"].endswith(f"/settings/templates/{row.id}")
    db.session.expire_all()
    row = db.session.get(EmailTemplate, row.id)
    kept = '<h1>Hi {{7*7}}</h1><a rel="noopener noreferrer">x</a>'
    assert (row.name, row.tags, row.html) == ("Welcome back", "news, promo", kept)
    assert row.kind == "basic" and row.updated_at is not None
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "template_edited"))
    assert event.agency_id == agency_user.id and event.detail == {"template_id": row.id,
                                                                  "changed": ["name", "tags", "html"]}
    assert "edited" in client.get(f"/settings/templates/{row.id}").get_data(as_text=True)

    # The account made before keeps its copy; one made now gets the new version.
    assert [c.html for c in db.session.scalars(sa.select(EmailTemplate).where(
        EmailTemplate.account_id == before.id))] == ["<p>First</p>"]
    after = _provision(db, agency_user, "after-edit")
    assert [(c.name, c.html) for c in db.session.scalars(sa.select(EmailTemplate).where(
        EmailTemplate.account_id == after.id))] == [("Welcome back", kept)]

    # Saving it unchanged writes no event.
    _post(client, f"/settings/templates/{row.id}/edit", {"basic-name": row.name, "basic-tags": row.tags,
                                                          "basic-html": row.html})
    assert _count(db, AuditEvent, AuditEvent.action == "template_edited") == 1


@pytest.mark.parametrize("data, field, message", [
    ({"basic-name": "", "basic-html": "<p>x</p>"}, "name", "Give the template a name."),
    ({"basic-name": "x" * 121, "basic-html": "<p>x</p>"}, "name", "at most"),
    ({"basic-name": "Tagged", "basic-tags": ",".join(f"tag{i:03d}" for i in range(100)), "basic-html": "<p>x</p>"},
     "tags", "at most"),
    ({"basic-name": "Empty", "basic-html": "<script>alert(1)</script>"}, "html", "nothing that can be shown"),
    ({"basic-name": "Huge", "basic-html": "<p>" + "x" * 200_001 + "</p>"}, "html", "too long"),
])
def test_a_bad_edit_of_an_agency_template_is_refused_by_the_field_and_changes_nothing(client, db, agency_user, data,
                                                                                      field, message):
    row = templates.add_basic(agency_user.id, templates.TemplateInput("Kept", "k", "<p>Kept</p>"), ACTOR)
    response = _post(client, f"/settings/templates/{row.id}/edit", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and "is-invalid" in html
    db.session.expire_all()
    row = db.session.get(EmailTemplate, row.id)
    assert (row.name, row.tags, row.html, row.updated_at) == ("Kept", "k", "<p>Kept</p>", None)
    assert _count(db, AuditEvent, AuditEvent.action == "template_edited") == 0


def test_another_agencys_template_or_an_accounts_cannot_be_edited_from_the_defaults(client, db, agency_user):
    other, _ = make_agency("Other")
    theirs = templates.add_basic(other.id, templates.TemplateInput("Theirs", "", "<p>x</p>"), ACTOR)
    account = make_account(agency_user, "mine")
    in_account = templates.create_in_account(account, templates.TemplateInput("In account", "", "<p>a</p>"), ACTOR)
    for row in (theirs, in_account):
        assert client.get(f"/settings/templates/{row.id}/edit").status_code == 404
        response = _post(client, f"/settings/templates/{row.id}/edit",
                         {"basic-name": "Taken", "basic-html": "<p>taken</p>"}, form_page="/settings/templates")
        assert response.status_code == 404
    assert client.get("/settings/templates/abc/edit").status_code == 404
    db.session.expire_all()
    assert db.session.get(EmailTemplate, theirs.id).name == "Theirs"
    assert db.session.get(EmailTemplate, in_account.id).name == "In account"
    with pytest.raises(NotFound):
        templates.edit_agency_template(agency_user.id, theirs.id, templates.TemplateInput("x", "", "<p>x</p>"), ACTOR)


def test_a_template_is_edited_in_the_account_sanitized_audited_and_only_there(app, db):
    agency, _ = make_agency()
    acme = make_account(agency, "acme", admin_password="acme-secret-pass")
    beta = make_account(agency, "beta")
    mine = templates.create_in_account(acme, templates.TemplateInput("Promo", "sale", "<p>Sale</p>"), ACTOR)
    theirs = templates.create_in_account(beta, templates.TemplateInput("Beta only", "", "<p>b</p>"), ACTOR)
    _link, token = templates.share(acme, mine.id, ACTOR)
    imported = templates.import_into_account(beta, token, ACTOR)
    a = app.test_client()
    _client_login(a, ACME, "acme-secret-pass")
    shown = a.get(f"/app/templates/{mine.id}", base_url=ACME).get_data(as_text=True)
    assert f"/app/templates/{mine.id}/edit" in shown and "btn-accent" in shown
    assert f"/app/templates/{mine.id}/edit" in a.get("/app/templates", base_url=ACME).get_data(as_text=True)
    page = a.get(f"/app/templates/{mine.id}/edit", base_url=ACME).get_data(as_text=True)
    assert 'value="Promo"' in page and "AgencyHQ" not in page  # white label
    assert "/app/templates/preview" in page

    refused = _post(a, f"/app/templates/{mine.id}/edit", {"name": "", "tags": "", "html": "<script>x</script>"},
                    base_url=ACME)
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "Give the template a name." in body and "nothing that can be shown" in body
    edited = _post(a, f"/app/templates/{mine.id}/edit", {
        "name": "Summer promo", "tags": "sale, summer", "html": '<p style="color:red" onmouseover="x()">Summer!</p>'},
        base_url=ACME)
    assert edited.status_code == 303 and edited.headers["Location"].endswith(f"/app/templates/{mine.id}")
    db.session.expire_all()
    row = db.session.get(EmailTemplate, mine.id)
    assert (row.name, row.tags, row.html) == ("Summer promo", "sale, summer", '<p style="color:red">Summer!</p>')
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "template_edited"))
    assert (event.account_id, event.agency_id, event.actor_label) == (acme.id, agency.id, "admin@acme")
    assert event.detail["changed"] == ["name", "tags", "html"]
    # The copy imported elsewhere keeps what it was given; another account's template is not found.
    assert db.session.get(EmailTemplate, imported.id).html == "<p>Sale</p>"
    for path in (f"/app/templates/{theirs.id}/edit", f"/app/templates/{imported.id}/edit"):
        assert a.get(path, base_url=ACME).status_code == 404
        assert _post(a, path, {"name": "Taken", "html": "<p>t</p>"}, base_url=ACME,
                     form_page="/app/templates").status_code == 404
    assert db.session.get(EmailTemplate, theirs.id).name == "Beta only"
    # A state change needs its CSRF token.
    assert a.post(f"/app/templates/{mine.id}/edit", base_url=ACME,
                  data={"name": "No token", "html": "<p>x</p>"}).status_code in (400, 403)
    assert db.session.get(EmailTemplate, mine.id).name == "Summer promo"


def test_add_my_templates_switches_copying_into_new_accounts_on_and_off(client, db, agency_user):
    templates.add_basic(agency_user.id, templates.TemplateInput("Welcome", "", "<p>Hi</p>"), ACTOR)
    assert templates.adds_templates(agency_user.id) is True  # on until switched off, as before the switch
    page = client.get("/settings/branding").get_data(as_text=True)
    box = re.search(r'<input[^>]*name="add_templates"[^>]*>', page).group(0)
    assert 'type="checkbox"' in box and "checked" in box
    section = page[page.index('id="new-account-templates"'):]
    assert "Add my templates" in section and 'href="/settings/templates"' in section and "Manage templates" in section

    off = client.post("/settings/branding", data={"csrf_token": csrf_token(page), "primary_color": "#2454a6",
                                                  "accent_color": "#0e7c66"}, content_type="multipart/form-data")
    assert off.status_code == 303 and templates.adds_templates(agency_user.id) is False
    box = re.search(r'<input[^>]*name="add_templates"[^>]*>', client.get("/settings/branding").get_data(as_text=True))
    assert "checked" not in box.group(0)
    assert "is off" in client.get("/settings/templates").get_data(as_text=True)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "branding_defaults_saved"))
    assert event.detail == {"update_existing": False, "add_templates": False}
    assert _names_in(db, _provision(db, agency_user, "without-templates")) == []

    on = client.post("/settings/branding", data={"csrf_token": csrf_token(page), "primary_color": "#2454a6",
                                                 "accent_color": "#0e7c66", "add_templates": "y"},
                     content_type="multipart/form-data")
    assert on.status_code == 303 and templates.adds_templates(agency_user.id) is True
    assert _names_in(db, _provision(db, agency_user, "with-templates")) == ["Welcome"]
    assert "is off" not in client.get("/settings/templates").get_data(as_text=True)
    # Another agency's switch is its own.
    other, _ = make_agency("Other")
    templates.add_basic(other.id, templates.TemplateInput("Theirs", "", "<p>t</p>"), ACTOR)
    branding.save_defaults(agency_user.id, branding.BrandingInput(), update_existing=False, actor=ACTOR,
                           add_templates=False)
    assert templates.adds_templates(other.id) is True
    assert _names_in(db, _provision(db, other, "other-new")) == ["Theirs"]
    # Saving through the service without saying keeps the switch as it is.
    branding.save_defaults(agency_user.id, branding.BrandingInput(), update_existing=False, actor=ACTOR)
    assert templates.adds_templates(agency_user.id) is False
