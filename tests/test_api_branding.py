"""The Agency API's white label (X1 over A9, W1, W2, W8): the custom domain and its DNS check, an account's own
branding, the agency's defaults and its templates, over the same services and rules as the dashboard."""
from __future__ import annotations

import base64

import sqlalchemy as sa

from webapp.models import AuditEvent, EmailTemplate, HostedAccount
from webapp.services import api_tokens, branding, templates

from .helpers import make_account, make_agency, make_member
from .test_api import ACTOR, Api, error_of, new_token

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class RestApi(Api):
    """Api with PATCH and DELETE."""

    def patch(self, path, json=None, headers=None):
        return self.client.patch(f"/api/v1{path}", json=json, headers=self._headers(headers))

    def delete(self, path, headers=None):
        return self.client.delete(f"/api/v1{path}", headers=self._headers(headers))


def _agency(client, email="owner@agency.test", name="Acme Agency"):
    agency, owner = make_agency(name, email=email)
    return agency, owner, RestApi(client, new_token(owner))


def _reader(app, owner):
    return RestApi(app.test_client(), api_tokens.create(owner, "reader", ACTOR, scope="read")[1])


def _actions(db, account_id):
    return list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.account_id == account_id)
                                   .order_by(AuditEvent.id)))


# ---- A9: the custom domain --------------------------------------------------------------------------------

def test_a_custom_domain_is_set_verified_by_dns_and_removed_through_the_api(app, client, db, dns_server):
    agency, owner, api = _agency(client)
    account = make_account(agency, "acme")
    shown = api.get(f"/accounts/{account.id}/domain").json
    assert shown == {"account_id": account.id, "domain": None, "verified": False, "verified_at": None,
                     "cname_target": "acme.localhost", "released": None}
    saved = api.post(f"/accounts/{account.id}/domain", json={"domain": "Mail.Acme.test"})
    assert saved.status_code == 200 and saved.json["domain"] == "mail.acme.test" and not saved.json["verified"]
    # No record yet: refused with the reason, nothing verified.
    missing = error_of(api.post(f"/accounts/{account.id}/domain/verify"), 409, "conflict")
    assert "no CNAME record" in missing["message"]
    dns_server.records["mail.acme.test"] = "somewhere.else.test"
    assert "points to somewhere.else.test" in error_of(api.post(f"/accounts/{account.id}/domain/verify"), 409)[
        "message"]
    assert client.get("/app/login", base_url="http://mail.acme.test").status_code == 404
    dns_server.records["mail.acme.test"] = "acme.localhost"
    verified = api.post(f"/accounts/{account.id}/domain/verify")
    assert verified.status_code == 200 and verified.json["verified"] and verified.json["verified_at"]
    assert client.get("/app/login", base_url="http://mail.acme.test").status_code == 200
    assert api.get(f"/accounts/{account.id}").json["custom_domain_verified"] is True
    removed = api.delete(f"/accounts/{account.id}/domain")
    assert removed.status_code == 200 and removed.json["domain"] is None and not removed.json["verified"]
    assert client.get("/app/login", base_url="http://mail.acme.test").status_code == 404
    assert _actions(db, account.id) == ["custom_domain_set", "custom_domain_verified", "custom_domain_set"]


def test_domain_bad_input_another_agency_and_a_read_token(app, client, db):
    agency, owner, api = _agency(client)
    account = make_account(agency, "acme")
    bad = error_of(api.post(f"/accounts/{account.id}/domain", json={"domain": "not a domain"}), 422)
    assert "domain" in bad["fields"]
    assert "domain" in error_of(api.post(f"/accounts/{account.id}/domain", json={"domain": 5}), 422)["fields"]
    assert "domain" in error_of(api.post(f"/accounts/{account.id}/domain", json={}), 422)["fields"]
    error_of(api.post(f"/accounts/{account.id}/domain/verify"), 409)  # none set
    db.session.refresh(account)
    assert account.custom_domain is None and _actions(db, account.id) == []
    rival = make_account(make_agency("Rival", email="rival@agency.test")[0], "rival-shop", custom_domain="r.test")
    error_of(api.get(f"/accounts/{rival.id}/domain"), 404)
    error_of(api.post(f"/accounts/{rival.id}/domain", json={"domain": "mine.test"}), 404)
    error_of(api.delete(f"/accounts/{rival.id}/domain"), 404)
    db.session.refresh(rival)
    assert rival.custom_domain == "r.test"
    reader = _reader(app, owner)
    assert reader.get(f"/accounts/{account.id}/domain").status_code == 200
    error_of(reader.post(f"/accounts/{account.id}/domain", json={"domain": "mail.acme.test"}), 403,
             "insufficient_scope")
    error_of(reader.delete(f"/accounts/{account.id}/domain"), 403, "insufficient_scope")
    # The Billing member may not manage accounts, as on the dashboard.
    billing_member = RestApi(client, new_token(make_member(agency, "billing")))
    error_of(billing_member.post(f"/accounts/{account.id}/domain", json={"domain": "mail.acme.test"}), 403,
             "forbidden")


# ---- W2: one account's own branding -----------------------------------------------------------------------

def test_an_accounts_own_branding_with_a_logo_and_its_reset(app, client, db):
    agency, owner, api = _agency(client)
    account = make_account(agency, "bakery")
    assert api.get(f"/accounts/{account.id}/branding").json == {"account_id": account.id, "overridden": False,
                                                                "branding": None}
    error_of(api.get(f"/accounts/{account.id}/branding/logo"), 404)
    changed = api.patch(f"/accounts/{account.id}/branding", json={
        "product_name": "Bakery Mail", "primary_color": "#112233", "support_email": "help@bakery.test",
        "logo": base64.b64encode(PNG).decode()})
    assert changed.status_code == 200, changed.json
    body = changed.json
    assert body["overridden"] is True
    assert body["branding"]["product_name"] == "Bakery Mail" and body["branding"]["primary_color"] == "#112233"
    assert body["branding"]["accent_color"] == branding.DEFAULT_ACCENT  # left out: the default, as on the form
    assert body["branding"]["logo_mime_type"] == "image/png"
    logo = api.get(f"/accounts/{account.id}/branding/logo").json
    assert logo["mime_type"] == "image/png" and base64.b64decode(logo["data"]) == PNG
    # A field left out keeps its value; the logo too.
    kept = api.patch(f"/accounts/{account.id}/branding", json={"login_headline": "Welcome back"}).json["branding"]
    assert kept["product_name"] == "Bakery Mail" and kept["login_headline"] == "Welcome back"
    assert kept["logo_mime_type"] == "image/png"
    # An SVG is rebuilt from drawing elements only, as on the dashboard; a data: URL is taken too.
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><rect width="4" height="4"/></svg>'
    api.patch(f"/accounts/{account.id}/branding", json={
        "logo": "data:image/svg+xml;base64," + base64.b64encode(svg).decode()})
    stored = base64.b64decode(api.get(f"/accounts/{account.id}/branding/logo").json["data"])
    assert b"rect" in stored and b"script" not in stored
    assert api.patch(f"/accounts/{account.id}/branding", json={"logo": None}).json["branding"]["logo_mime_type"] \
        is None
    reset = api.post(f"/accounts/{account.id}/branding/reset")
    assert reset.status_code == 200 and reset.json == {"account_id": account.id, "overridden": False,
                                                       "branding": None}
    assert _actions(db, account.id) == ["branding_overridden"] * 4 + ["branding_reset"]


def test_account_branding_bad_input_another_agency_and_a_read_token(app, client, db):
    agency, owner, api = _agency(client)
    account = make_account(agency, "bakery")
    api.patch(f"/accounts/{account.id}/branding", json={"product_name": "Bakery Mail"})
    for change, field in [({"primary_color": "red"}, "primary_color"), ({"support_url": "ftp://x"}, "support_url"),
                          ({"logo": "!!not base64!!"}, "logo"),
                          ({"logo": base64.b64encode(b"GIF89a....").decode()}, "logo"),
                          ({"logo": "QUJD"}, "logo"),  # "ABC": no image
                          ({"product_name": 7}, "product_name"), ({"colour": "#000000"}, "colour")]:
        problem = error_of(api.patch(f"/accounts/{account.id}/branding", json=change), 422)
        assert field in problem["fields"], (change, problem)
    assert api.get(f"/accounts/{account.id}/branding").json["branding"]["product_name"] == "Bakery Mail"
    assert api.get(f"/accounts/{account.id}/branding").json["branding"]["logo_mime_type"] is None
    rival = make_account(make_agency("Rival", email="rival@agency.test")[0], "rival-shop")
    error_of(api.get(f"/accounts/{rival.id}/branding"), 404)
    error_of(api.patch(f"/accounts/{rival.id}/branding", json={"product_name": "Mine"}), 404)
    error_of(api.post(f"/accounts/{rival.id}/branding/reset"), 404)
    error_of(api.get(f"/accounts/{rival.id}/branding/logo"), 404)
    assert branding.of_account(rival) is None
    reader = _reader(app, owner)
    assert reader.get(f"/accounts/{account.id}/branding").status_code == 200
    error_of(reader.patch(f"/accounts/{account.id}/branding", json={"product_name": "X"}), 403, "insufficient_scope")
    error_of(reader.post(f"/accounts/{account.id}/branding/reset"), 403, "insufficient_scope")


# ---- W1, W8: the agency's defaults ------------------------------------------------------------------------

def test_the_defaults_are_saved_and_copied_into_the_existing_accounts(app, client, db, run_jobs):
    agency, owner, api = _agency(client)
    follows = make_account(agency, "follows")
    own = make_account(agency, "own-brand")
    api.patch(f"/accounts/{own.id}/branding", json={"product_name": "Own"})
    assert api.get("/branding").json == {"branding": None, "add_templates": True, "language_picker": False,
                                         "last_run": None}
    saved = api.patch("/branding", json={"product_name": "Acme Mail", "accent_color": "#aa5500",
                                         "update_existing": True, "add_templates": False})
    assert saved.status_code == 200, saved.json
    assert saved.json["branding"]["product_name"] == "Acme Mail" and saved.json["add_templates"] is False
    assert saved.json["last_run"]["kind"] == "apply_branding" and saved.json["last_run"]["status"] == "queued"
    run_jobs()
    done = api.get("/branding").json
    assert done["last_run"]["status"] == "succeeded"
    assert done["last_run"]["result"] == {"updated": 1, "kept_own_branding": 1}
    db.session.expire_all()
    assert branding.of_account(db.session.get(HostedAccount, follows.id)).product_name == "Acme Mail"
    assert branding.of_account(db.session.get(HostedAccount, own.id)).product_name == "Own"
    # Left out, add_templates keeps its value; no run without update_existing.
    again = api.patch("/branding", json={"login_text": "Line one\nLine two"}).json
    assert again["add_templates"] is False and again["branding"]["login_text"] == "Line one\nLine two"
    assert again["last_run"]["id"] == done["last_run"]["id"]
    assert api.patch("/branding", json={"language_picker": True}).json["language_picker"] is True  # issue 26
    assert api.get("/branding/logo").status_code == 404
    api.patch("/branding", json={"logo": base64.b64encode(PNG).decode()})
    assert base64.b64decode(api.get("/branding/logo").json["data"]) == PNG


def test_defaults_bad_input_roles_and_a_read_token(app, client, db):
    agency, owner, api = _agency(client)
    problem = error_of(api.patch("/branding", json={"support_email": "nope", "primary_color": "#12345g"}), 422)
    assert set(problem["fields"]) == {"support_email", "primary_color"}
    assert "update_existing" in error_of(api.patch("/branding", json={"update_existing": "yes"}), 422)["fields"]
    assert branding.defaults_of(agency.id) is None
    error_of(_reader(app, owner).patch("/branding", json={"product_name": "X"}), 403, "insufficient_scope")
    billing_member = RestApi(client, new_token(make_member(agency, "billing")))
    error_of(billing_member.get("/branding"), 403, "forbidden")
    error_of(billing_member.patch("/branding", json={"product_name": "X"}), 403, "forbidden")
    assert branding.defaults_of(agency.id) is None
    # Another agency's defaults are not these.
    rival, rival_owner = make_agency("Rival", email="rival@agency.test")
    branding.save_defaults(rival.id, branding.BrandingInput(product_name="Rival Mail"), update_existing=False,
                           actor=ACTOR)
    assert api.get("/branding").json["branding"] is None


# ---- W8, W9: the agency's templates --------------------------------------------------------------------------

def test_templates_are_added_edited_imported_copied_and_deleted(app, client, db):
    agency, owner, api = _agency(client)
    created = api.post("/templates", json={"name": "Welcome", "tags": "intro, intro, news",
                                           "html": '<p onclick="x()">Hi</p><script>alert(1)</script>'})
    assert created.status_code == 201, created.json
    row = created.json
    assert row["kind"] == "basic" and row["tags"] == "intro, news" and row["html"] == "<p>Hi</p>"
    assert api.get("/templates").json == {"data": [{k: v for k, v in row.items() if k != "html"}]}
    assert api.get(f"/templates/{row['id']}").json == row
    edited = api.patch(f"/templates/{row['id']}", json={"name": "Hello"}).json
    assert edited["name"] == "Hello" and edited["html"] == "<p>Hi</p>" and edited["updated_at"]
    # From a share link made in another account (W9), once.
    source_account = make_account(make_agency("Designer", email="designer@agency.test")[0], "designer-shop")
    source = templates.create_in_account(source_account, templates.TemplateInput("Promo", "sale", "<p>Sale</p>"),
                                         ACTOR)
    _link, token = templates.share(source_account, source.id, ACTOR)
    imported = api.post("/templates/import", json={"link": f"https://x.test/templates/shared/{token}"})
    assert imported.status_code == 201 and imported.json["kind"] == "designer"
    assert imported.json["name"] == "Promo" and imported.json["source_template_id"] == source.id
    assert "link" in error_of(api.post("/templates/import", json={"link": token}), 409, "conflict")["fields"]
    # A copy of a template of one of the agency's own accounts.
    mine = make_account(agency, "mine")
    inside = templates.create_in_account(mine, templates.TemplateInput("Receipt", "", "<p>Thanks</p>"), ACTOR)
    assert [t["name"] for t in api.get(f"/accounts/{mine.id}/templates").json["data"]] == ["Receipt"]
    copied = api.post("/templates/copy", json={"account_id": mine.id, "template_id": inside.id})
    assert copied.status_code == 201 and copied.json["kind"] == "copy" and copied.json["html"] == "<p>Thanks</p>"
    assert [t["name"] for t in api.get("/templates").json["data"]] == ["Hello", "Promo", "Receipt"]
    deleted = api.delete(f"/templates/{row['id']}")
    assert deleted.status_code == 200 and deleted.json == {"id": row["id"], "deleted": True}
    error_of(api.get(f"/templates/{row['id']}"), 404)
    assert [t["name"] for t in api.get("/templates").json["data"]] == ["Promo", "Receipt"]


def test_template_bad_input_another_agency_and_a_read_token(app, client, db):
    agency, owner, api = _agency(client)
    assert "name" in error_of(api.post("/templates", json={"name": "", "html": "<p>x</p>"}), 422)["fields"]
    assert "html" in error_of(api.post("/templates", json={"name": "X", "html": "<script>x()</script>"}), 422)[
        "fields"]
    assert "html" in error_of(api.post("/templates", json={"name": "X"}), 422)["fields"]
    too_long = "<p>" + "x" * templates.MAX_HTML_CHARS + "</p>"
    assert error_of(api.post("/templates", json={"name": "X", "html": too_long}), 413)
    assert "link" in error_of(api.post("/templates/import", json={"link": "not a link"}), 422)["fields"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailTemplate)) == 0
    rival_agency, rival_owner = make_agency("Rival", email="rival@agency.test")
    theirs = templates.add_basic(rival_agency.id, templates.TemplateInput("Theirs", "", "<p>T</p>"), ACTOR)
    rival_account = make_account(rival_agency, "rival-shop")
    inside = templates.create_in_account(rival_account, templates.TemplateInput("In", "", "<p>I</p>"), ACTOR)
    error_of(api.get(f"/templates/{theirs.id}"), 404)
    error_of(api.patch(f"/templates/{theirs.id}", json={"name": "Mine"}), 404)
    error_of(api.delete(f"/templates/{theirs.id}"), 404)
    error_of(api.get(f"/accounts/{rival_account.id}/templates"), 404)
    error_of(api.post("/templates/copy", json={"account_id": rival_account.id, "template_id": inside.id}), 404)
    db.session.refresh(theirs)
    assert theirs.name == "Theirs"
    mine = templates.add_basic(agency.id, templates.TemplateInput("Mine", "", "<p>M</p>"), ACTOR)
    assert "name" in error_of(api.patch(f"/templates/{mine.id}", json={"name": " "}), 422)["fields"]
    reader = _reader(app, owner)
    assert reader.get(f"/templates/{mine.id}").status_code == 200
    error_of(reader.post("/templates", json={"name": "X", "html": "<p>x</p>"}), 403, "insufficient_scope")
    error_of(reader.patch(f"/templates/{mine.id}", json={"name": "Y"}), 403, "insufficient_scope")
    error_of(reader.delete(f"/templates/{mine.id}"), 403, "insufficient_scope")
    db.session.refresh(mine)
    assert mine.name == "Mine"
