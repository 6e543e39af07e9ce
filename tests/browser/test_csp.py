"""Browser (issue 17, item 9): every page of every role, listed from the URL map, loads under the
Content-Security-Policy without a single violation. Chromium reports each one as a console error
and as a `securitypolicyviolation` event; both are collected. A GET page nobody visits fails the
test, unless it is in SKIPPED with the reason."""
from __future__ import annotations

import pytest

from webapp.services import demo

from .pages import SKIPPED, _args, _role, _sign_in, platform  # noqa: F401 (platform: a fixture)

pytestmark = pytest.mark.browser

WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP-VIOLATION ${e.violatedDirective} blocked=${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def test_no_page_of_any_role_breaks_the_content_security_policy(app, browser, live_server, platform):
    client_base = live_server.replace("localhost", f"{demo.CLIENT_ACCOUNT}.localhost")
    violations: list[tuple[str, str]] = []
    pages = {}
    for role in ("agency", "support", "client", "client_anonymous", "anonymous"):
        context = browser.new_context(base_url=client_base if role.startswith("client") else live_server)
        context.add_init_script(WATCH)
        page = context.new_page()
        page.set_default_timeout(10000)
        page.on("console", lambda message, page=page: violations.append((page.url, message.text))
                if message.type == "error" and ("Content Security Policy" in message.text
                                                or "CSP-VIOLATION" in message.text) else None)
        pages[role] = page
    _sign_in(pages["agency"], "/login", "E-mail", demo.AGENCY_EMAIL, demo.AGENCY_PASSWORD)
    _sign_in(pages["support"], "/login", "E-mail", demo.SUPPORT_EMAIL, demo.SUPPORT_PASSWORD)
    _sign_in(pages["client"], "/app/login", "Username", "admin", demo.CLIENT_PASSWORD)

    visited = []
    with app.test_request_context(base_url=live_server):
        from flask import url_for
        rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods and not r.endpoint.startswith("api.")]
        for rule in sorted(rules, key=lambda r: r.rule):
            if rule.endpoint in SKIPPED:
                continue
            path = url_for(rule.endpoint, **_args(rule, platform))
            page = pages[_role(rule.endpoint)]
            answer = page.goto(path)
            assert answer is not None and answer.status < 500, f"{path}: {answer and answer.status}"
            if rule.endpoint in ("auth.login", "client.login") or _role(rule.endpoint) == "anonymous":
                pass
            else:
                assert "/login" not in page.url, f"{path} sent {_role(rule.endpoint)} to the login page"
            page.wait_for_load_state("load")
            visited.append(rule.endpoint)
    # The error pages too (a 404, a 403 of another role's page), and their Go back link.
    assert pages["agency"].goto("/no-such-page").status == 404
    assert pages["agency"].goto("/support").status == 403
    pages["agency"].get_by_role("link", name="Go back").click()
    for page in pages.values():
        page.wait_for_timeout(200)  # late reports (a swap the page triggered on load)
        page.context.close()
    assert not violations, "\n".join(f"{url}: {text}" for url, text in violations)
    every = {r.endpoint for r in app.url_map.iter_rules() if "GET" in r.methods and not r.endpoint.startswith("api.")}
    assert every - set(SKIPPED) == set(visited)
