"""Browser: the keyboard focus ring stands out at 3:1 or more (WCAG 1.4.11) from what is around it,
on the light page, on the dark top bar and on an account's bar in its brand colour."""
from __future__ import annotations

import re

import pytest

from webapp.extensions import db
from webapp.models import Branding

from ..helpers import PASSWORD, make_account, make_agency

pytestmark = pytest.mark.browser

RING = """() => { const e = document.activeElement, s = getComputedStyle(e);
  // The colour behind the ring: every background from the page down to the element, each laid over
  // the one beneath by its alpha (a button part-way through its hover transition is see-through).
  const layers = [];
  for (let n = e; n && n.nodeType === 1; n = n.parentElement) layers.push(getComputedStyle(n).backgroundColor);
  let bg = [255, 255, 255];
  for (const c of layers.reverse()) {
    const v = (c.match(/[\\d.]+/g) || []).map(Number);
    if (v.length < 3) continue;
    const a = v.length > 3 ? v[3] : 1;
    bg = bg.map((under, i) => under * (1 - a) + v[i] * a); }
  return {outline: s.outlineColor, style: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow,
          background: `rgb(${bg.map(Math.round).join(', ')})`,
          topbar: !!e.closest('.topbar'), clientTop: !!e.closest('.client-top'), main: !!e.closest('main')}; }"""


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(v) for v in re.findall(r"[\d.]+", css)[:3])


def _contrast(a: str, b: str) -> float:
    def luminance(rgb):
        channels = [c / 255 for c in rgb]
        channels = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
    high, low = sorted((luminance(_rgb(a)), luminance(_rgb(b))), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _tab_to(page, where: str, presses: int = 30) -> dict:
    for _ in range(presses):
        page.keyboard.press("Tab")
        ring = page.evaluate(RING)
        if ring[where]:
            assert ring["style"] != "none" and float(ring["width"].rstrip("px")) >= 2, ring
            return ring
    raise AssertionError(f"Tab never reached {where}")


def _ring_contrast(ring: dict) -> float:
    """The better of the ring's colours (the outline, or the inner shadow where there is one)."""
    colours = [ring["outline"]] + re.findall(r"rgba?\([^)]*\)", ring["shadow"] or "")
    return max(_contrast(colour, ring["background"]) for colour in colours)


def test_focus_ring_contrast_on_the_page_and_on_the_dark_top_bar(app, page):
    with app.app_context():
        make_agency(email="nora@agency.test")
    page.goto("/login")
    page.get_by_label("E-mail").fill("nora@agency.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    topbar = _tab_to(page, "topbar")
    assert _contrast(topbar["outline"], topbar["background"]) >= 3, topbar
    in_main = _tab_to(page, "main", presses=60)
    assert _contrast(in_main["outline"], in_main["background"]) >= 3, in_main


@pytest.mark.parametrize("brand_colour", ["#0b6e4f", "#2454a6", "#f5d76e", "#ffffff"])
def test_focus_ring_contrast_on_the_accounts_brand_coloured_bar(app, page, live_server, brand_colour):
    with app.app_context():
        agency, _user = make_agency()
        account = make_account(agency, "ringtest", admin_password="ring-test-password")
        db.session.add(Branding(agency_id=agency.id, account_id=account.id, primary_color=brand_colour))
        db.session.commit()
    base = live_server.replace("localhost", "ringtest.localhost")
    page.goto(base + "/app/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("ring-test-password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/app/")
    ring = _tab_to(page, "clientTop")
    assert _rgb(ring["background"]) == _rgb(f"rgb({int(brand_colour[1:3], 16)}, {int(brand_colour[3:5], 16)}, "
                                            f"{int(brand_colour[5:7], 16)})")
    assert _ring_contrast(ring) >= 3, ring
