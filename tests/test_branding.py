"""White label (W1, W2): defaults for new accounts and an "update all" job, per-account overrides
with a live preview and a reset, logos (type, size, SVG sanitized), stored content never run."""
from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from webapp.models import Branding, HostedAccount, Operation
from webapp.services import branding, provisioning
from webapp.services.audit import Actor
from webapp.services.errors import ValidationFailed

from .helpers import csrf_token, login, make_account, make_agency

ACTOR = Actor("user:0", "tests")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EVIL_SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" onload="alert(1)">'
            b'<script>alert(2)</script><foreignObject><div>x</div></foreignObject>'
            b'<a href="javascript:alert(3)"><rect width="10" height="10" fill="red"/></a>'
            b'<circle cx="5" cy="5" r="4" fill="url(https://evil.test/x)" onclick="alert(4)"/>'
            b'<path d="M0 0L10 10" stroke="blue"/></svg>')


@pytest.mark.parametrize("values, field", [
    ({"primary_color": "red"}, "primary_color"), ({"primary_color": "#12345"}, "primary_color"),
    ({"support_email": "not-mail"}, "support_email"), ({"support_url": "javascript:alert(1)"}, "support_url"),
    ({"support_url": "ftp://x.test"}, "support_url"), ({"product_name": "x" * 81}, "product_name"),
    ({"logo": b"GIF89a...."}, "logo"), ({"logo": b"\x89PNG\r\n\x1a\n" + b"0" * (512 * 1024)}, "logo"),
    ({"logo": b"<svg><unclosed"}, "logo"),
])
def test_bad_branding_is_refused_per_field(db, values, field):
    with pytest.raises(ValidationFailed) as exc:
        branding.validate(branding.BrandingInput(**values))
    assert field in exc.value.fields


def test_svg_logos_keep_only_drawing(db):
    clean = branding.validate(branding.BrandingInput(logo=EVIL_SVG))["logo"].decode()
    for bad in ("script", "onload", "onclick", "foreignObject", "javascript", "evil.test", "alert"):
        assert bad not in clean
    assert "<path" in clean or ":path" in clean
    assert branding.validate(branding.BrandingInput(logo=PNG))["logo_mime"] == "image/png"


def test_defaults_reach_new_accounts_and_update_all_skips_overrides(app, db, run_jobs):
    agency, _ = make_agency()
    plain = make_account(agency, "plain")
    own = make_account(agency, "own-brand")
    branding.override(own, branding.BrandingInput(product_name="Own Brand", primary_color="#111111"), ACTOR)
    branding.save_defaults(agency.id, branding.BrandingInput(product_name="Agency Mail", primary_color="#0b6e4f",
                                                             logo=PNG), update_existing=False, actor=ACTOR)
    fresh = make_account(agency, "fresh", status="provisioning")
    provisioning.submit(fresh)
    db.session.commit()
    from webapp.services import operations
    operations.run(db.session.scalar(sa.select(Operation.id).where(Operation.kind == "provision_account")))
    assert branding.of_account(fresh).product_name == "Agency Mail"
    assert branding.of_account(plain) is None  # not updated without the checkbox
    _row, op = branding.save_defaults(agency.id, branding.BrandingInput(product_name="Agency Mail 2",
                                                                        primary_color="#0b6e4f"),
                                      update_existing=True, actor=ACTOR)
    run_jobs()
    db.session.expire_all()
    op = db.session.get(Operation, op.id)
    assert op.status == "succeeded" and op.result == {"updated": 2, "kept_own_branding": 1}
    assert op.progress == op.total == 2
    assert branding.of_account(plain).product_name == "Agency Mail 2"
    assert branding.of_account(fresh).product_name == "Agency Mail 2"
    assert branding.of_account(own).product_name == "Own Brand"
    branding.reset(own, ACTOR)
    assert branding.of_account(own).product_name == "Agency Mail 2" and not own.branding_overridden


def test_pages_preview_and_the_branded_login(client, app, db):
    agency, _ = make_agency(email="brand@agency.test")
    account = make_account(agency, "acme", admin_password="acme-secret-pass")
    login(client, "brand@agency.test")
    page = client.get("/settings/branding")
    assert page.status_code == 200 and "Update all existing hosted accounts" in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    bad = client.post("/settings/branding", data={"csrf_token": token, "primary_color": "blue",
                                                  "logo": (io.BytesIO(b"GIF89a"), "x.gif")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "#2454a6" in bad.get_data(as_text=True)
    ok = client.post("/settings/branding", data={"csrf_token": token, "product_name": "Acme Mail",
                                                 "primary_color": "#aa0000",
                                                 "login_headline": "<script>alert(1)</script>{{7*7}}",
                                                 "logo": (io.BytesIO(EVIL_SVG), "logo.svg")},
                     content_type="multipart/form-data")
    assert ok.status_code == 303
    preview = client.get("/settings/branding/preview?product_name=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"
                         "&primary_color=%23ff0000&login_text={{7*7}}", headers={"HX-Request": "true"})
    html = preview.get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html and "{{7*7}}" in html
    override = client.get(f"/accounts/{account.id}/branding")
    token = csrf_token(override.get_data(as_text=True))
    client.post(f"/accounts/{account.id}/branding", data={"csrf_token": token, "product_name": "Acme Own",
                                                         "primary_color": "#00aa00",
                                                         "login_headline": "<b>Hi</b> {{7*7}}"},
                content_type="multipart/form-data")
    login_page = client.get("/app/login", base_url="http://acme.localhost").get_data(as_text=True)
    assert "Acme Own" in login_page and "AgencyHQ" not in login_page
    visible = re.sub(r'brand\.css\?v=\d+|value="[^"]*"|"X-CSRFToken": "[^"]*"', "", login_page)
    assert "&lt;b&gt;Hi&lt;/b&gt; {{7*7}}" in login_page and "49" not in visible  # tokens and versions aside
    sheet = re.search(r'<link rel="stylesheet" href="(/app/brand\.css\?v=\d+)">', login_page).group(1)
    brand_css = client.get(sheet, base_url="http://acme.localhost")
    assert brand_css.mimetype == "text/css" and brand_css.get_data(as_text=True) == (
        ":root { --brand: #00aa00; --brand-accent: #0e7c66; --brand-accent-ink: #ffffff; --brand-link: #0e7c66; }\n")
    logo = client.get("/app/logo", base_url="http://acme.localhost")
    assert logo.status_code == 200 and logo.mimetype == "image/svg+xml" and b"script" not in logo.data
    assert "sandbox" in logo.headers["Content-Security-Policy"]
    other, _ = make_agency(email="other@agency.test")
    theirs = make_account(other, "theirs")
    assert client.get(f"/accounts/{theirs.id}/branding").status_code == 404
    reset = client.post(f"/accounts/{account.id}/branding/reset", data={"csrf_token": token})
    assert reset.status_code == 303
    assert "Acme Mail" in client.get("/app/login", base_url="http://acme.localhost").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Branding)) == 2
    assert db.session.get(HostedAccount, account.id).branding_overridden is False


# ---- W1 "colours": a primary and an accent colour (issue 23) -----------------------------------

@pytest.mark.parametrize("accent", ["teal", "#12345", "#1234567", "#ggg000", "javascript:x", "", "#0e7c66;}"])
def test_a_bad_accent_colour_is_refused_by_its_field_as_the_primary_is(db, accent):
    with pytest.raises(ValidationFailed) as exc:
        branding.validate(branding.BrandingInput(accent_color=accent))
    assert set(exc.value.fields) == {"accent_color"} and "#0e7c66" in exc.value.fields["accent_color"]
    assert branding.validate(branding.BrandingInput(accent_color=" #AA3377 "))["accent_color"] == "#AA3377"


def test_the_accent_reaches_new_accounts_update_all_overrides_and_reset(app, db, run_jobs):
    agency, _ = make_agency()
    plain = make_account(agency, "plain")
    own = make_account(agency, "own-brand")
    branding.override(own, branding.BrandingInput(primary_color="#111111", accent_color="#222222"), ACTOR)
    branding.save_defaults(agency.id, branding.BrandingInput(primary_color="#0b6e4f", accent_color="#aa3377"),
                           update_existing=False, actor=ACTOR)
    fresh = make_account(agency, "fresh", status="provisioning")
    op = provisioning.submit(fresh)
    db.session.commit()
    from webapp.services import operations
    operations.run(op.id)
    assert (branding.of_account(fresh).primary_color, branding.of_account(fresh).accent_color) == ("#0b6e4f",
                                                                                                   "#aa3377")
    branding.save_defaults(agency.id, branding.BrandingInput(primary_color="#0b6e4f", accent_color="#335577"),
                           update_existing=True, actor=ACTOR)
    run_jobs()
    db.session.expire_all()
    assert branding.of_account(plain).accent_color == "#335577"
    assert branding.of_account(fresh).accent_color == "#335577"
    assert branding.of_account(own).accent_color == "#222222"  # its own branding kept
    branding.reset(own, ACTOR)
    assert branding.of_account(own).accent_color == "#335577"


@pytest.mark.parametrize("accent, link, ink", [
    ("#0e7c66", "#0e7c66", "#ffffff"),  # reads at 4.5:1 already: as chosen
    ("#aa0000", "#aa0000", "#ffffff"),
    ("#ffcc00", "#806600", "#1d2430"),  # a yellow: darkened for text, dark text on its buttons
    ("#ffffff", "#666666", "#1d2430"),
])
def test_the_accent_as_the_account_site_uses_it_stays_readable(accent, link, ink):
    props = branding.colours({"primary_color": "#2454a6", "accent_color": accent})
    assert props == {"--brand": "#2454a6", "--brand-accent": accent, "--brand-accent-ink": ink, "--brand-link": link}
    assert branding.contrast(link, branding.PAGE_BACKGROUND) >= 4.5
    assert branding.contrast(ink, accent) >= 3


def test_a_stored_colour_that_is_not_one_is_left_out_of_the_style_sheet(db):
    sheet = branding.site_css({"primary_color": "red;} body{display:none", "accent_color": "#aa3377"})
    assert sheet.startswith(":root { --brand-accent: #aa3377;") and "red" not in sheet and "display" not in sheet
    assert branding.site_css({"primary_color": "#2454a6", "accent_color": "url(x)"}) == ":root { --brand: #2454a6; }\n"
    assert branding.site_css(None) == ""


def test_the_forms_show_both_colours_and_the_account_site_uses_the_accent(client, db):
    agency, _ = make_agency(email="colours@agency.test")
    account = make_account(agency, "acme", admin_password="acme-secret-pass")
    login(client, "colours@agency.test")
    page = client.get("/settings/branding").get_data(as_text=True)
    assert 'name="primary_color"' in page and 'name="accent_color"' in page and 'value="#0e7c66"' in page
    assert "Accent colour" in page and 'data-colour-for="accent_color"' in page
    token = csrf_token(page)
    bad = client.post("/settings/branding", data={"csrf_token": token, "primary_color": "#2454a6",
                                                  "accent_color": "green"}, content_type="multipart/form-data")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="accent_color-error"' in html and 'aria-invalid="true"' in html
    assert 'id="primary_color-error"' not in html and db.session.scalar(sa.select(Branding)) is None
    ok = client.post("/settings/branding", data={"csrf_token": token, "primary_color": "#2454a6",
                                                 "accent_color": "#ffcc00"}, content_type="multipart/form-data")
    assert ok.status_code == 303 and branding.defaults_of(agency.id).accent_color == "#ffcc00"
    assert 'value="#ffcc00"' in client.get("/settings/branding").get_data(as_text=True)

    preview = client.get("/settings/branding/preview?primary_color=%23aa0000&accent_color=%23ffcc00",
                         headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-brand="#ffcc00"' in preview and 'data-brand="#806600"' in preview  # the bar, the readable link
    junk = client.get("/settings/branding/preview?accent_color=javascript:x", headers={"HX-Request": "true"})
    assert "javascript" not in junk.get_data(as_text=True) and 'data-brand="#0e7c66"' in junk.get_data(as_text=True)

    # The per-account form (W2) takes both too, and the account's site gets them in its style sheet.
    page = client.get(f"/accounts/{account.id}/branding").get_data(as_text=True)
    assert 'name="accent_color"' in page
    client.post(f"/accounts/{account.id}/branding", data={"csrf_token": csrf_token(page), "primary_color": "#00aa00",
                                                         "accent_color": "#aa3377"},
                content_type="multipart/form-data")
    assert branding.of_account(account).accent_color == "#aa3377"
    login_page = client.get("/app/login", base_url="http://acme.localhost").get_data(as_text=True)
    sheet = re.search(r'<link rel="stylesheet" href="(/app/brand\.css\?v=\d+)">', login_page).group(1)
    css = client.get(sheet, base_url="http://acme.localhost").get_data(as_text=True)
    assert "--brand: #00aa00;" in css and "--brand-accent: #aa3377;" in css and "--brand-link: #aa3377;" in css
    app_css = client.get("/static/css/app.css").get_data(as_text=True)
    assert ".client-site main a:not(.btn) { color: var(--brand-link); }" in app_css
    assert ".btn-accent" in app_css and "--brand-accent: #0e7c66;" in app_css
