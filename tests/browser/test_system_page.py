"""Browser: support opens the System page from the support menu, sees a failed operation with its error, and
retries it; the page then says it is queued again and the failure has left the list."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..helpers import browser_login, make_support

pytestmark = pytest.mark.browser


def test_support_retries_a_failed_operation_from_the_system_page(page, app, browser, live_server):
    with app.app_context():
        from webapp.extensions import db
        from webapp.services import operations
        op = operations.submit("no_such_kind", key="browser-system-page", subject=("account", 5))
        db.session.commit()
        assert operations.run(op.id) == "failed"
        op_id = op.id
        make_support()
    browser_login(page, "staff@agencyhq.test")
    page.get_by_role("navigation", name="Support menu").get_by_role("link", name="System").click()
    expect(page.get_by_role("heading", name="System", level=1)).to_be_visible()
    row = page.locator(f'#failed-operations tr[data-operation="{op_id}"]')
    expect(row).to_contain_text("No handler for operation kind")
    expect(page.locator("#failed-total")).to_have_text("1")
    row.get_by_role("button", name=f"Retry operation {op_id}").click()
    expect(page.get_by_role("status").filter(has_text="is queued again")).to_be_visible()
    expect(page.locator(f'#failed-operations tr[data-operation="{op_id}"]')).to_have_count(0)
    expect(page.locator("#failed-total")).to_have_text("0")
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Operation
        op = db.session.get(Operation, op_id)
        assert op.status == "queued" and op.attempts == 0 and op.enqueued_at is not None
