"""The support console's System page (issue 25): the queue's depth and oldest waiting operation, the failed
operations with their errors and a Retry each, and the sweeper's last pass; staff only."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from webapp.jobs import sweeper
from webapp.models import AuditEvent, Operation, utcnow
from webapp.services import operations

from .helpers import csrf_token, login, make_agency, make_support


@pytest.fixture
def staff(db, client):
    user = make_support()
    assert login(client, user.email).status_code == 303
    return user


def failed_operation(db, key="system-page-broken", agency_id=None):
    op = operations.submit("no_such_kind", key=key, agency_id=agency_id, subject=("account", 77))
    db.session.commit()
    assert operations.run(op.id) == "failed"
    db.session.expire_all()
    return db.session.get(Operation, op.id)


def test_the_system_page_shows_the_queue_the_failures_and_the_sweeper(app, client, db, staff):
    agency, _ = make_agency("Broken Things Ltd", email="owner@broken.test")
    broken = failed_operation(db, agency_id=agency.id)
    waiting = operations.submit("deliver_email", key="system-page-waiting", subject=("email", 1))
    waiting.created_at = utcnow() - timedelta(minutes=7)
    operations.submit("deliver_email", key="system-page-later", run_after=utcnow() + timedelta(hours=1))
    db.session.commit()
    html = client.get("/support/system").get_data(as_text=True)
    assert 'id="queue-depth">1' in html and "deliver_email: 1" in html  # the one not due yet is not waiting
    assert f"Operation {waiting.id} (deliver_email), waiting for 7 minutes" in html
    assert "No pass recorded yet" in html
    row = html[html.index(f'data-operation="{broken.id}"'):]
    row = row[:row.index("</tr>")]
    assert "no_such_kind" in row and "account 77" in row and "Broken Things Ltd" in row
    assert "No handler for operation kind" in row and "Retry" in row
    assert 'id="failed-total">1<' in html
    # The support menu leads here.
    assert 'href="/support/system"' in client.get("/support").get_data(as_text=True)

    sweeper.sweep()
    swept = client.get("/support/system").get_data(as_text=True)
    assert "No pass recorded yet" not in swept and "enqueued again" in swept


def test_retry_queues_a_failed_operation_again_and_is_audited(app, client, db, staff):
    broken = failed_operation(db)
    token = csrf_token(client.get("/support/system").get_data(as_text=True))
    queue = app.extensions["job_queue"].queue
    jobs_before = queue.count
    answer = client.post(f"/support/system/operations/{broken.id}/retry", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/support/system")
    db.session.expire_all()
    op = db.session.get(Operation, broken.id)
    assert op.status == "queued" and op.attempts == 0 and op.enqueued_at is not None
    assert queue.count == jobs_before + 1  # handed to a worker
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "operation_retried"))
    assert event is not None and event.detail["operation_id"] == op.id and event.actor == f"user:{staff.id}"
    page = client.get("/support/system").get_data(as_text=True)
    assert "is queued again" in page and f'data-operation="{op.id}"' not in page
    # Retrying what is not failed says so, and changes nothing.
    again = client.post(f"/support/system/operations/{op.id}/retry", data={"csrf_token": token}, follow_redirects=True)
    assert "Only a failed operation can be retried." in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Operation, op.id).status == "queued"
    assert client.post("/support/system/operations/999999/retry", data={"csrf_token": token}).status_code == 404
    assert client.post("/support/system/operations/abc/retry", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/support/system/operations/{op.id}/retry", data={}).status_code == 400  # no CSRF token


def test_only_support_staff_see_the_system_page(app, client, db):
    broken = failed_operation(db)
    assert client.get("/support/system").status_code == 302  # signed out: to the login page
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    assert client.get("/support/system").status_code == 403
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post(f"/support/system/operations/{broken.id}/retry", data={"csrf_token": token}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Operation, broken.id).status == "failed"
