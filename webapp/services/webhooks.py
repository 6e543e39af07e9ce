"""Outgoing webhooks (issue 24): the agency's endpoints, the events AgencyHQ tells them of, and their delivery.

- `emit` records an event (kept 30 days, listed by GET /events so a receiver that was down can catch up)
  and one pending delivery per enabled endpoint that wants its type, in the caller's transaction: they
  commit with the change they describe, and are handed to the queue after that commit.
- Each WebhookDelivery row is the truth about its delivery; the queue's "webhook_delivery" job carries only
  its id, and the periodic `dispatch_due` hands out what is due again (retries, lost jobs, a worker killed
  mid-send). A try claims the row with a conditional UPDATE (pending and due, or "sending" by a worker gone
  stale), so two jobs for one delivery send it once, and a worker killed while sending has it sent once
  more, with the same `webhook-id` (receivers de-duplicate by it).
- Order: the deliveries of one endpoint about one account are sent in the order they were made: one waits
  while an earlier one of the same endpoint and account is pending or sending. An earlier one that fails
  for good (3 days of retries) stops blocking. Events about no account (webhook.test) are not ordered.
  Nothing orders deliveries of different endpoints: a slow or failing endpoint delays only its own.
- Retries: exponential back-off with jitter (about 5 s, 5 min, 30 min, 2 h, 5 h, then every 10 h) while
  within 3 days of the first try (the last try at 3 days exactly), then the delivery is failed. An endpoint
  whose tries have all failed for 3 days (failing_since) is disabled ("failing") and the agency e-mailed.
- Safety (adapters/webhook_http.py): https only (http with WEBHOOKS_ALLOW_HTTP), public addresses only
  (else WEBHOOKS_ALLOW_PRIVATE), checked after resolution at each send, no redirects, 64 KB of answer.
- Signing: Standard Webhooks (the `standardwebhooks` library); the secret is kept encrypted (Fernet, its
  key derived from SECRET_KEY) and shown once, when the endpoint is made."""
from __future__ import annotations

import base64
import json
import logging
import random
import secrets
import string
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, aliased
from sqlalchemy.exc import IntegrityError

from .. import faults
from ..adapters import webhook_http
from ..extensions import db
from ..models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from ..models.base import UTCDateTime
from . import audit, keys, mail, metrics, notices, permissions
from .errors import Conflict, NotFound, ValidationFailed
from .scope import AgencyScope, parse_id

log = logging.getLogger("agencyhq.webhooks")

EVENT_TYPES = (
    "account.provisioned", "account.provisioning_failed", "account.plan_changed", "account.cancelled",
    "account.expired", "account.disabled", "account.enabled", "account.transferred_in", "account.detached",
    "invoice.paid", "invoice.payment_failed", "invoice.refunded",
    "credits.allocated",
    "pushdown.published", "pushdown.switched",
    "report.opened",
    "payout.paid", "payout.failed",
)
EVENT_LABELS = {
    "account.provisioned": _l("An account is ready"),
    "account.provisioning_failed": _l("An account's provisioning failed"),
    "account.plan_changed": _l("An account's plan changed"),
    "account.cancelled": _l("An account was cancelled"),
    "account.expired": _l("An account expired"),
    "account.disabled": _l("An account was disabled"),
    "account.enabled": _l("An account was enabled again"),
    "account.transferred_in": _l("An account was transferred in"),
    "account.detached": _l("An account was detached"),
    "invoice.paid": _l("An invoice was paid"),
    "invoice.payment_failed": _l("An invoice's payment failed"),
    "invoice.refunded": _l("An invoice was refunded"),
    "credits.allocated": _l("Credits were allocated"),
    "pushdown.published": _l("A pushdown was published"),
    "pushdown.switched": _l("A pushdown was switched on or off"),
    "report.opened": _l("An abuse or bounce report was opened"),
    "payout.paid": _l("A commission payout was paid"),
    "payout.failed": _l("A commission payout failed"),
}
TEST_EVENT = "webhook.test"

URL_MAX = 2000
DESCRIPTION_MAX = 200
EVENT_RETENTION = timedelta(days=30)
RETRY_WINDOW = timedelta(days=3)  # a delivery is retried this long after its first try, then failed
DISABLE_AFTER = timedelta(days=3)  # an endpoint failing this long is disabled
# The delays after the 1st, 2nd, ... failed try; the last one repeats.
BACKOFF = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
           timedelta(hours=5), timedelta(hours=10))
JITTER = 0.1  # each delay is drawn within ±10 %
SECRET_PREFIX = "whsec_"
EVENT_ID_PREFIX = "msg_"
DELIVERY_JOB = "webhook_delivery"
_PENDING_KEY = "webhook_deliveries_to_enqueue"
_ALPHABET = string.ascii_letters + string.digits


# ---- emitting events ----------------------------------------------------------------------------------------

def emit(agency_id: int | None, type: str, data: dict, *, account_id: int | None = None) -> WebhookEvent | None:
    """Records that `type` happened to the agency's `data` (the object as the API returns it) and a pending
    delivery to each of its enabled endpoints that wants the type. Added to the caller's session: it commits
    with the change it describes, and the deliveries go to the queue after that commit (a rollback sends
    nothing). The event is recorded even when no endpoint wants it (GET /events lists it). None for what
    belongs to no agency."""
    if type not in EVENT_TYPES and type != TEST_EVENT:
        raise ValueError(f"unknown webhook event type {type!r}")
    if agency_id is None:
        return None
    event = WebhookEvent(public_id=new_event_id(), agency_id=agency_id, type=type, account_id=account_id,
                         data=_json_safe(data), created_at=utcnow())
    db.session.add(event)
    wanted = [endpoint for endpoint in _enabled_endpoints(agency_id) if type in (endpoint.events or [])]
    if wanted:  # an event no endpoint wants is written with the rest of the transaction, in one batch
        db.session.flush()
        for endpoint in wanted:
            _add_delivery(endpoint, event)
    return event


_ENDPOINTS_KEY = "webhook_enabled_endpoints"


def _enabled_endpoints(agency_id: int) -> list:
    """The agency's enabled endpoints, read once per transaction (a renewal batch tells thousands of events)."""
    cache = db.session.info.setdefault(_ENDPOINTS_KEY, {})
    if agency_id not in cache:
        cache[agency_id] = db.session.scalars(sa.select(WebhookEndpoint).where(
            WebhookEndpoint.agency_id == agency_id, WebhookEndpoint.enabled.is_(True))
            .order_by(WebhookEndpoint.id)).all()
    return cache[agency_id]


def new_event_id() -> str:
    return EVENT_ID_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(27))


def _json_default(value):
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_safe(data: dict) -> dict:
    if not isinstance(data, dict):
        raise TypeError("a webhook event's data is an object (a dict)")
    return json.loads(json.dumps(data, default=_json_default))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _add_delivery(endpoint: WebhookEndpoint, event: WebhookEvent, resend_no: int = 0) -> WebhookDelivery:
    delivery = WebhookDelivery(endpoint_id=endpoint.id, event_id=event.id, resend_no=resend_no,
                               account_id=event.account_id, status="pending", attempts=0,
                               next_attempt_at=utcnow(), created_at=utcnow())
    db.session.add(delivery)
    db.session.flush()
    db.session.info.setdefault(_PENDING_KEY, []).append(delivery.id)
    return delivery


@sa_event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session) -> None:
    """The deliveries this transaction made go to the queue once it has committed (never before: a worker
    must find the row). Enqueueing that fails loses nothing: `dispatch_due` hands them out later. A savepoint's
    release fires this event too: only the outermost commit counts."""
    if session.in_nested_transaction():
        return
    session.info.pop(_ENDPOINTS_KEY, None)
    ids = session.info.pop(_PENDING_KEY, None)
    if not ids or not has_app_context():
        return
    try:
        enqueue(ids)
    except Exception:  # the change is committed: its commit must not raise for the transport's sake
        log.exception("enqueueing webhook deliveries %s failed (the sweep hands them out)", ids)


@sa_event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session) -> None:
    if not session.in_nested_transaction():  # a savepoint rolled back leaves the rest of the transaction
        session.info.pop(_PENDING_KEY, None)
        session.info.pop(_ENDPOINTS_KEY, None)


def enqueue(delivery_ids: list[int]) -> bool:
    queue = current_app.extensions["job_queue"]
    return queue.enqueue_calls(DELIVERY_JOB, [(int(i),) for i in delivery_ids])


# ---- the signing secret, kept encrypted -------------------------------------------------------------------

def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _fernet():
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"agencyhq webhook secrets").derive(
        current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(endpoint: WebhookEndpoint) -> str:
    return _fernet().decrypt(endpoint.secret_encrypted.encode()).decode()


# ---- the agency's endpoints -------------------------------------------------------------------------------

def url_problem(url) -> str | None:
    """Why `url` cannot be a webhook endpoint, in words for its field, or None."""
    cfg = current_app.config
    if not isinstance(url, str) or not url.strip():
        return str(_l("Enter the URL the events are sent to."))
    url = url.strip()
    if len(url) > URL_MAX:
        return str(_l("Use at most %(n)s characters.", n=f"{URL_MAX:,}"))
    try:
        _scheme, host, port = webhook_http.check_url(url, allow_http=cfg["WEBHOOKS_ALLOW_HTTP"])
        if not cfg["WEBHOOKS_ALLOW_PRIVATE"]:
            webhook_http.checked_addresses(host, port, allow_private=False, timeout=3)
    except webhook_http.Refused as exc:
        if exc.code == "unresolved":
            return None  # a name not in the DNS yet: checked again, after resolution, at every send
        if exc.code == "address":
            kind = str(ADDRESS_KIND_LABELS[exc.kind])
            if exc.address == host.strip("[]"):
                return str(_l("Use a public address: %(address)s is %(kind)s.", address=exc.address, kind=kind))
            return str(_l("Use a public address: %(host)s resolves to %(address)s, %(kind)s.", host=host,
                          address=exc.address, kind=kind))
        return str(URL_REFUSALS[exc.code])
    return None


URL_REFUSALS = {
    "invalid": _l("Enter a valid URL, such as https://example.com/webhooks."),
    "scheme": _l("Use an https:// address."),
    "host": _l("Enter a valid URL, such as https://example.com/webhooks."),
    "credentials": _l("Leave the user name and password out of the URL."),
    "characters": _l("The URL cannot contain spaces or control characters."),
}
ADDRESS_KIND_LABELS = {
    "metadata": _l("a cloud metadata address"), "loopback": _l("a loopback address"),
    "link-local": _l("a link-local address"), "multicast": _l("a multicast address"),
    "private": _l("a private address"), "reserved": _l("a reserved address"),
    "unspecified": _l("an unspecified address"), "non-public": _l("not a public address"),
}


def _events_problem(events) -> str | None:
    if not isinstance(events, list) or not events:
        return str(_l("Choose at least one event."))
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        return str(_l("Unknown event type: %(types)s.", types=", ".join(str(e) for e in unknown)[:200]))
    return None


def _description_problem(description) -> str | None:
    if not isinstance(description, str):
        return str(_l("Enter a description (or leave it blank)."))
    if len(description.strip()) > DESCRIPTION_MAX or not (description.strip().isprintable() or not description.strip()):
        return str(_l("Use at most %(n)s printable characters.", n=DESCRIPTION_MAX))
    return None


def _checked(fields: dict) -> None:
    fields = {name: problem for name, problem in fields.items() if problem}
    if fields:
        raise ValidationFailed(next(iter(fields.values())), fields)


def _ordered_events(events: list[str]) -> list[str]:
    return [e for e in EVENT_TYPES if e in set(events)]


def list_endpoints(scope: AgencyScope) -> list[WebhookEndpoint]:
    return list(db.session.scalars(scope.select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def get_endpoint(scope: AgencyScope, endpoint_id) -> WebhookEndpoint:
    return scope.get(WebhookEndpoint, endpoint_id)


def create_endpoint(scope: AgencyScope, *, url: str, events: list[str], description: str = "",
                    actor) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret ("whsec_..."), to show once."""
    permissions.require(actor, "api_tokens")
    description = "" if description is None else description
    _checked({"url": url_problem(url), "events": _events_problem(events),
              "description": _description_problem(description)})
    secret = new_secret()
    user_id = int(actor.ref.split(":")[1]) if str(actor.ref).startswith("user:") else None
    endpoint = WebhookEndpoint(agency_id=scope.agency_id, url=url.strip(), description=description.strip(),
                               events=_ordered_events(events), enabled=True, secret_encrypted=encrypt_secret(secret),
                               created_by_user_id=user_id, created_at=utcnow())
    if user_id is None and str(actor.ref).startswith("api_token:"):
        from ..models import ApiToken
        token = db.session.get(ApiToken, int(actor.ref.split(":")[1]))
        endpoint.created_by_user_id = token.user_id if token is not None else None
    db.session.add(endpoint)
    db.session.flush()
    audit.record(actor, "webhook_endpoint_created", agency_id=scope.agency_id, endpoint_id=endpoint.id,
                 url=endpoint.url, events=endpoint.events)
    db.session.commit()
    return endpoint, secret


def update_endpoint(scope: AgencyScope, endpoint_id, *, url=None, events=None, description=None,
                    enabled: bool | None = None, actor) -> WebhookEndpoint:
    """Changes what is given (None: kept). enabled=False disables it ("agency"); enabled=True enables it
    again, also after it was disabled for failing (its failing run starts anew, and its deliveries that
    were waiting go out)."""
    permissions.require(actor, "api_tokens")
    endpoint = get_endpoint(scope, endpoint_id)
    _checked({"url": url_problem(url) if url is not None else None,
              "events": _events_problem(events) if events is not None else None,
              "description": _description_problem(description) if description is not None else None,
              "enabled": None if enabled is None or isinstance(enabled, bool) else str(_l("Choose yes or no."))})
    changes = {}
    if url is not None and url.strip() != endpoint.url:
        endpoint.url = changes["url"] = url.strip()
    if events is not None and _ordered_events(events) != endpoint.events:
        endpoint.events = changes["events"] = _ordered_events(events)
    if description is not None and description.strip() != endpoint.description:
        endpoint.description = changes["description"] = description.strip()
    woken = []
    if enabled is True and not endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since = True, None, None
        changes["enabled"] = True
        now = utcnow()
        db.session.flush()
        db.session.execute(sa.update(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending")
            .values(next_attempt_at=now, enqueued_at=None))
        woken = list(db.session.scalars(sa.select(WebhookDelivery.id).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending")))
    elif enabled is False and endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason = False, "agency"
        changes["enabled"] = False
    if changes:
        audit.record(actor, "webhook_endpoint_updated", agency_id=scope.agency_id, endpoint_id=endpoint.id,
                     **changes)
        db.session.info.setdefault(_PENDING_KEY, []).extend(woken)
    db.session.commit()
    return endpoint


def delete_endpoint(scope: AgencyScope, endpoint_id, *, actor) -> None:
    """The endpoint, its deliveries and their tries; the events stay (other endpoints, GET /events)."""
    permissions.require(actor, "api_tokens")
    endpoint = get_endpoint(scope, endpoint_id)
    deliveries = sa.select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    db.session.execute(sa.delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    audit.record(actor, "webhook_endpoint_deleted", agency_id=scope.agency_id, endpoint_id=endpoint.id,
                 url=endpoint.url)
    db.session.delete(endpoint)
    db.session.commit()


# ---- the delivery log ------------------------------------------------------------------------------------

def deliveries(scope: AgencyScope, endpoint_id, *, limit: int = 50, before_id: int | None = None
               ) -> list[WebhookDelivery]:
    """The endpoint's deliveries, newest first; `before_id` pages on (the cursor is the last id shown)."""
    endpoint = get_endpoint(scope, endpoint_id)
    stmt = sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if before_id is not None:
        stmt = stmt.where(WebhookDelivery.id < int(before_id))
    return list(db.session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(max(1, min(int(limit), 200)))))


def get_delivery(scope: AgencyScope, delivery_id) -> WebhookDelivery:
    delivery = db.session.scalar(sa.select(WebhookDelivery).join(WebhookEndpoint).where(
        WebhookDelivery.id == parse_id(delivery_id), WebhookEndpoint.agency_id == scope.agency_id))
    if delivery is None:
        raise NotFound()
    return delivery


def attempts(scope: AgencyScope, delivery_id) -> list[WebhookAttempt]:
    """Every try of one delivery, newest first."""
    delivery = get_delivery(scope, delivery_id)
    return list(db.session.scalars(sa.select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
                                   .order_by(WebhookAttempt.id.desc())))


def resend(scope: AgencyScope, delivery_id, *, actor) -> WebhookDelivery:
    """A new delivery of the same event to the same endpoint (the same webhook-id: a receiver that had it
    can tell)."""
    permissions.require(actor, "api_tokens")
    delivery = get_delivery(scope, delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        raise Conflict(str(_l("This endpoint is disabled: enable it, then resend.")))
    last = db.session.scalar(sa.select(sa.func.max(WebhookDelivery.resend_no)).where(
        WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.event_id == delivery.event_id)) or 0
    try:
        with db.session.begin_nested():
            new = _add_delivery(endpoint, delivery.event, resend_no=last + 1)
    except IntegrityError:
        raise Conflict(str(_l("This delivery is being resent already."))) from None
    audit.record(actor, "webhook_delivery_resent", agency_id=scope.agency_id, endpoint_id=endpoint.id,
                 delivery_id=delivery.id, new_delivery_id=new.id, event_id=delivery.event.public_id)
    db.session.commit()
    return new


def send_test(scope: AgencyScope, endpoint_id, *, actor) -> WebhookDelivery:
    """A "webhook.test" event to this endpoint only (whatever events it chose)."""
    permissions.require(actor, "api_tokens")
    endpoint = get_endpoint(scope, endpoint_id)
    if not endpoint.enabled:
        raise Conflict(str(_l("This endpoint is disabled: enable it, then send a test event.")))
    event = WebhookEvent(public_id=new_event_id(), agency_id=scope.agency_id, type=TEST_EVENT, account_id=None,
                         data={"endpoint_id": endpoint.id, "url": endpoint.url,
                               "message": "A test event sent from AgencyHQ."}, created_at=utcnow())
    db.session.add(event)
    db.session.flush()
    delivery = _add_delivery(endpoint, event)
    audit.record(actor, "webhook_test_sent", agency_id=scope.agency_id, endpoint_id=endpoint.id,
                 event_id=event.public_id)
    db.session.commit()
    return delivery


# ---- events, for catching up ----------------------------------------------------------------------------

def events_after(scope: AgencyScope, *, after: str | None = None, type: str | None = None,
                 limit: int = 50) -> list[WebhookEvent]:
    """The agency's events of the last 30 days, oldest first, after the event `after` (its public id)."""
    stmt = scope.select(WebhookEvent).where(WebhookEvent.created_at >= utcnow() - EVENT_RETENTION)
    if after:
        after_row = db.session.scalar(scope.select(WebhookEvent, WebhookEvent.id).where(
            WebhookEvent.public_id == after))
        if after_row is None:
            raise ValidationFailed(str(_l("No event of yours has this id (events are kept 30 days).")),
                                   {"after": str(_l("No event of yours has this id (events are kept 30 days)."))})
        stmt = stmt.where(WebhookEvent.id > after_row)
    if type:
        stmt = stmt.where(WebhookEvent.type == type)
    return list(db.session.scalars(stmt.order_by(WebhookEvent.id).limit(max(1, min(int(limit), 200)))))


def get_event(scope: AgencyScope, public_id: str) -> WebhookEvent:
    event = db.session.scalar(scope.select(WebhookEvent).where(WebhookEvent.public_id == str(public_id)[:40]))
    if event is None:
        raise NotFound()
    return event


def payload(event: WebhookEvent) -> dict:
    """What is POSTed, and what GET /events shows of each event."""
    return {"id": event.public_id, "type": event.type, "created_at": _iso(event.created_at), "data": event.data}


# ---- delivering ------------------------------------------------------------------------------------------

def stale_after() -> timedelta:
    """A delivery "sending" for longer than this lost its worker (killed mid-send): it may be claimed again."""
    cfg = current_app.config
    return timedelta(seconds=max(cfg["WEBHOOK_STALE_SECONDS"], 3 * cfg["WEBHOOK_TIMEOUT_SECONDS"] + 1))


def _claimable(now: datetime):
    """The condition under which a delivery may be sent now: due (or lost by its worker), its endpoint
    enabled and not at its limit of sends at once, and no earlier delivery of the same endpoint and account
    still pending or sending."""
    earlier = aliased(WebhookDelivery)
    blocked = sa.exists().where(earlier.endpoint_id == WebhookDelivery.endpoint_id,
                                earlier.account_id == WebhookDelivery.account_id,
                                earlier.id < WebhookDelivery.id,
                                earlier.status.in_(("pending", "sending")))
    enabled = sa.exists().where(WebhookEndpoint.id == WebhookDelivery.endpoint_id, WebhookEndpoint.enabled.is_(True))
    # At most WEBHOOK_MAX_IN_FLIGHT sends to one endpoint at once: an endpoint that hangs holds that many
    # workers at most, never all of them (other endpoints' deliveries go on).
    sending = aliased(WebhookDelivery)
    in_flight = (sa.select(sa.func.count(sending.id)).where(
        sending.endpoint_id == WebhookDelivery.endpoint_id, sending.status == "sending",
        sending.claimed_at >= now - stale_after(), sending.id != WebhookDelivery.id).scalar_subquery())
    return sa.and_(
        in_flight < current_app.config["WEBHOOK_MAX_IN_FLIGHT"],
        sa.or_(sa.and_(WebhookDelivery.status == "pending",
                       sa.or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now)),
               sa.and_(WebhookDelivery.status == "sending", WebhookDelivery.claimed_at < now - stale_after())),
        enabled,
        sa.or_(WebhookDelivery.account_id.is_(None), ~blocked))


def _moment(value: datetime):
    """A time as a bound value of the columns' type (naive UTC on every database), for SQL functions."""
    return sa.literal(value, UTCDateTime())


def claim(delivery_id: int) -> bool:
    """Takes the delivery for this worker (one conditional UPDATE, committed before anything is sent)."""
    now = utcnow()
    result = db.session.execute(
        sa.update(WebhookDelivery).where(WebhookDelivery.id == delivery_id, _claimable(now))
        .values(status="sending", claimed_at=now, attempts=WebhookDelivery.attempts + 1,
                first_attempt_at=sa.func.coalesce(WebhookDelivery.first_attempt_at, _moment(now)))
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def backoff(failures: int) -> timedelta:
    """The delay after the `failures`-th failed try, with ±10 % jitter."""
    base = BACKOFF[min(failures, len(BACKOFF)) - 1]
    return base * random.uniform(1 - JITTER, 1 + JITTER)


def _request(delivery: WebhookDelivery) -> tuple[bytes, dict[str, str]]:
    from standardwebhooks import Webhook
    event = delivery.event
    body = json.dumps(payload(event), separators=(",", ":"), ensure_ascii=False)
    now = utcnow()
    signature = Webhook(decrypt_secret(delivery.endpoint)).sign(event.public_id, now, body)
    return body.encode(), {"webhook-id": event.public_id, "webhook-timestamp": str(int(now.timestamp())),
                           "webhook-signature": signature, "content-type": "application/json"}


def deliver(delivery_id: int) -> str:
    """One try of one delivery (the "webhook_delivery" job): "succeeded", "pending" (to be retried),
    "failed", or "skipped" when it is not this worker's to send now."""
    delivery_id = int(delivery_id)
    if not claim(delivery_id):
        return "skipped"
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        return "skipped"
    endpoint_id, url = delivery.endpoint_id, delivery.endpoint.url
    try:
        body, headers = _request(delivery)
    except InvalidToken:
        body = headers = None
    db.session.rollback()  # hold no transaction (nor lock) while the receiver takes its time
    cfg = current_app.config
    if body is None:
        outcome = webhook_http.Outcome(False, None, 0, "Not sent: the signing secret cannot be decrypted (was "
                                                       "SECRET_KEY changed?). Delete the endpoint and add it again.",
                                       None)
    else:
        outcome = webhook_http.post(url, body, headers, timeout=float(cfg["WEBHOOK_TIMEOUT_SECONDS"]),
                                    allow_http=cfg["WEBHOOKS_ALLOW_HTTP"],
                                    allow_private=cfg["WEBHOOKS_ALLOW_PRIVATE"])
    faults.point("webhook.after_send")  # sent, nothing recorded yet: the next claim sends it once more
    status = _record(delivery_id, outcome)
    metrics.webhook_delivery(status, outcome.latency_ms / 1000 if outcome.latency_ms is not None else None)
    log.info("webhook delivery %s to endpoint %s: %s %s", delivery_id, endpoint_id, status,
             outcome.error or outcome.status_code)
    _enqueue_next(endpoint_id)
    return status


def _record(delivery_id: int, outcome: webhook_http.Outcome) -> str:
    now = utcnow()
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status != "sending":
        db.session.rollback()
        return "skipped"  # the endpoint was deleted meanwhile
    error = outcome.error[:500] if outcome.error else None
    excerpt = outcome.excerpt[:1000] if outcome.excerpt else None
    db.session.add(WebhookAttempt(delivery_id=delivery.id, attempted_at=now, status_code=outcome.status_code,
                                  latency_ms=outcome.latency_ms, error=error, response_excerpt=excerpt))
    delivery.last_attempt_at, delivery.last_status_code = now, outcome.status_code
    delivery.last_latency_ms, delivery.last_error, delivery.response_excerpt = outcome.latency_ms, error, excerpt
    delivery.claimed_at = None
    endpoint = delivery.endpoint
    disabled = False
    if outcome.ok:
        delivery.status, delivery.next_attempt_at = "succeeded", None
        db.session.execute(sa.update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id)
                           .values(failing_since=None, last_success_at=now))
    else:
        give_up_at = (delivery.first_attempt_at or now) + RETRY_WINDOW
        if now >= give_up_at:
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            delivery.status = "pending"
            delivery.next_attempt_at = min(now + backoff(delivery.attempts), give_up_at)
            delivery.enqueued_at = None
        db.session.execute(sa.update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id)
                           .values(failing_since=sa.func.coalesce(WebhookEndpoint.failing_since, _moment(now))))
        disabled = _disable_if_failing(endpoint.id, now)
    status = delivery.status
    db.session.commit()
    if disabled:
        mail.enqueue_pending(*disabled)
    return status


def _disable_if_failing(endpoint_id: int, now: datetime):
    """Disables the endpoint once its failures have lasted 3 days, and tells the agency (once)."""
    result = db.session.execute(sa.update(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled.is_(True),
        WebhookEndpoint.failing_since <= now - DISABLE_AFTER).values(enabled=False, disabled_reason="failing")
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return None
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    db.session.refresh(endpoint)
    audit.record(audit.Actor.system(), "webhook_endpoint_disabled", agency_id=endpoint.agency_id,
                 endpoint_id=endpoint.id, url=endpoint.url, failing_since=_iso(endpoint.failing_since))
    from . import hosts
    last = db.session.scalar(sa.select(WebhookDelivery.last_error).where(
        WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.last_error.is_not(None))
        .order_by(WebhookDelivery.last_attempt_at.desc()).limit(1))
    emails = notices.to_agency(endpoint.agency_id, "webhook_disabled", {
        "endpoint": endpoint, "url": endpoint.url, "failing_since": endpoint.failing_since, "last_error": last,
        "page_url": hosts.dashboard_url(f"/settings/api/webhooks/{endpoint.id}")},
        key=keys.notice("webhook_disabled", endpoint.id, f"{endpoint.failing_since:%Y%m%d%H%M%S}"))
    return emails or [None]


def _enqueue_next(endpoint_id: int) -> None:
    """What waited for this try goes out now, oldest first: the next delivery of the same endpoint and
    account, and the endpoint's due ones held back by its limit of sends at once."""
    following = list(db.session.scalars(sa.select(WebhookDelivery.id).where(
        WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending", _claimable(utcnow()))
        .order_by(WebhookDelivery.id).limit(current_app.config["WEBHOOK_MAX_IN_FLIGHT"])))
    db.session.rollback()
    if following:
        enqueue(following)


def dispatch_due(limit: int = 500) -> int:
    """(periodic) Hands to the queue every delivery that may be sent now and is not known to be queued:
    retries whose time has come, ones whose job was lost, and ones "sending" by a worker gone stale."""
    now = utcnow()
    requeue_before = now - timedelta(seconds=current_app.config["OPERATION_REQUEUE_SECONDS"])
    ids = list(db.session.scalars(sa.select(WebhookDelivery.id).where(
        _claimable(now),
        sa.or_(WebhookDelivery.status == "sending", WebhookDelivery.enqueued_at.is_(None),
               WebhookDelivery.enqueued_at < requeue_before)).order_by(WebhookDelivery.id).limit(limit)))
    if not ids:
        db.session.rollback()
        return 0
    if not enqueue(ids):
        db.session.rollback()
        return 0
    db.session.execute(sa.update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(enqueued_at=now)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    return len(ids)


def purge_events(batch: int = 1000) -> int:
    """(periodic) Events older than 30 days go, with their deliveries and tries."""
    cutoff = utcnow() - EVENT_RETENTION
    purged = 0
    while True:
        ids = list(db.session.scalars(sa.select(WebhookEvent.id).where(WebhookEvent.created_at < cutoff)
                                      .order_by(WebhookEvent.id).limit(batch)))
        if not ids:
            break
        deliveries_of = sa.select(WebhookDelivery.id).where(WebhookDelivery.event_id.in_(ids))
        db.session.execute(sa.delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries_of)))
        db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(ids)))
        db.session.execute(sa.delete(WebhookEvent).where(WebhookEvent.id.in_(ids)))
        db.session.commit()
        purged += len(ids)
    return purged
