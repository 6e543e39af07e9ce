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
    assert brand_css.mimetype == "text/css" and brand_css.get_data(as_text=True) == ":root { --brand: #00aa00; }\n"
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
