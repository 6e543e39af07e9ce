"""Commission payouts (C3): one interface (`PayoutService`), a sandbox that behaves like PayPal Payouts, and
`PayPalPayouts`, PayPal's Payouts REST API over httpx (PAYOUTS=paypal).

A payout is a batch of one item. `send` answers with the batch: "success" (the sandbox pays at once),
"pending" (PayPal is processing it: ask `status` later), "failed" or "unclaimed" (the item's money is not
with the receiver; `reason` says why in PayPal's words). The same idempotency key (PayPal's
sender_batch_id, and its PayPal-Request-Id) always answers with the first batch, never a second payout.
An outage (connection refused, timeout, 5xx, 429) is `PayoutError("service_unavailable")`: whether the
batch was made is unknown, so the caller asks again later with the same key.

Like the payment sandbox, the sandbox stands in for a remote service: it keeps its own table, written on
its own connection outside the caller's transaction, so a payout it has sent stays sent even if the
caller crashes before committing. A refused request is not kept, as PayPal keeps no batch for it: the
same key may be tried again later.

Sandbox test receivers:

| e-mail                         | behaviour                                              |
| ------------------------------ | ------------------------------------------------------ |
| anything else                  | paid                                                   |
| unavailable@paypal.test        | the service is down: fails every time (retry later)    |
| fail-once@paypal.test          | fails on the first try for a key, paid on the next     |
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol
from urllib.parse import quote

import httpx
import sqlalchemy as sa

log = logging.getLogger("agencyhq.payouts")

FAILING_RECEIVERS = {"unavailable@paypal.test"}
FLAKY_RECEIVER = "fail-once@paypal.test"

# PayPal's item transaction_status values. The item's money is with the receiver only when SUCCESS; an
# UNCLAIMED item's money is held by PayPal for the receiver (30 days), so it must be cancelled before the
# payout is sent again; after these, it never left or came back:
FAILED_ITEM_STATUSES = frozenset({"FAILED", "RETURNED", "BLOCKED", "REFUNDED", "REVERSED"})
UNCLAIMED = "UNCLAIMED"
# Batch statuses after which no item of the batch is paid.
FAILED_BATCH_STATUSES = frozenset({"DENIED", "CANCELED"})
# PayPal writes these currencies' amounts without decimals.
ZERO_DECIMAL_CURRENCIES = frozenset({"HUF", "JPY", "TWD"})

UNAVAILABLE = "PayPal could not be reached."


class PayoutError(Exception):
    """The payout service refused or could not be reached; `code` is stable (service_unavailable,
    auth_failed, not_configured, rejected, not_found, invalid_amount). `message` may be shown to the agency;
    `detail` is for the operator (the operation's error, the log) and never holds a secret."""

    def __init__(self, code: str, message: str, detail: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail or message


@dataclass(frozen=True)
class PayoutResult:
    reference: str  # the batch: PayPal's payout_batch_id, the sandbox's PAYOUT-...
    amount_cents: int
    receiver: str
    status: str  # success, pending, failed, unclaimed
    item_reference: str | None = None  # PayPal's payout_item_id (an unclaimed item is cancelled by it)
    item_status: str | None = None  # PayPal's transaction_status, or the batch's status when it was DENIED
    reason: str | None = None  # why it is not paid, in PayPal's words ("RECEIVER_UNREGISTERED: ...")


class PayoutService(Protocol):
    """What commission asks of a payout service; the sandbox and PayPal answer the same way."""

    name: str

    def send(self, receiver: str, amount_cents: int, currency: str, *, idempotency_key: str) -> PayoutResult:
        """Pays `amount_cents` to `receiver` once per key: the same key again answers with the first batch."""

    def status(self, reference: str) -> PayoutResult:
        """Where the batch `reference` is now."""

    def cancel(self, item_reference: str) -> PayoutResult:
        """Cancels an unclaimed item (its money comes back: RETURNED) and answers with where the item is
        after: SUCCESS if the receiver claimed it first."""


# ---- the sandbox -----------------------------------------------------------------------------------------

_records = sa.Table(
    "sandbox_payout_records", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("idempotency_key", sa.String(120), nullable=False, unique=True),
    sa.Column("receiver", sa.String(254), nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
)
_attempts = sa.Table(
    "sandbox_payout_attempts", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("idempotency_key", sa.String(120), nullable=False),
    sa.Column("outcome", sa.String(40), nullable=False),
)


class SandboxPayouts:
    """A test-mode PayPal Payouts that pays at once. Thread- and process-safe: its memory is its tables."""

    name = "sandbox"

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        _records.create(engine, checkfirst=True)
        _attempts.create(engine, checkfirst=True)

    def send(self, receiver: str, amount_cents: int, currency: str, *, idempotency_key: str) -> PayoutResult:
        if amount_cents <= 0:
            raise PayoutError("invalid_amount", "The amount must be positive.")
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_records.c.response)
                               .where(_records.c.idempotency_key == idempotency_key)).first()
        if row is not None:
            return PayoutResult(**json.loads(row.response))
        receiver = receiver.strip().lower()
        tried = self._attempt_count(idempotency_key)
        if receiver in FAILING_RECEIVERS or (receiver == FLAKY_RECEIVER and tried == 0):
            self._note_attempt(idempotency_key, "service_unavailable")
            raise PayoutError("service_unavailable", UNAVAILABLE)
        response = {"reference": "PAYOUT-" + secrets.token_hex(8).upper(), "amount_cents": amount_cents,
                    "receiver": receiver, "status": "success"}
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(_records).values(idempotency_key=idempotency_key, receiver=receiver,
                                                        amount_cents=amount_cents, response=json.dumps(response)))
        except sa.exc.IntegrityError:
            # Another caller with the same key got there first: its answer is the answer.
            with self.engine.connect() as conn:
                response = json.loads(conn.execute(sa.select(_records.c.response).where(
                    _records.c.idempotency_key == idempotency_key)).scalar_one())
        self._note_attempt(idempotency_key, "success")
        return PayoutResult(**response)

    def status(self, reference: str) -> PayoutResult:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_records.c.response).where(
                _records.c.response.contains(json.dumps(reference), autoescape=True))).scalars().all()
        for response in map(json.loads, rows):
            if response["reference"] == reference:
                return PayoutResult(**response)
        raise PayoutError("not_found", "The payout service does not know this payout.", f"no sandbox payout {reference}")

    def cancel(self, item_reference: str) -> PayoutResult:
        return self.status(item_reference)  # the sandbox pays at once: nothing is ever unclaimed

    # --- for tests and the UI: what PayPal saw ------------------------------------------------------
    def history(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [{**dict(r._mapping), "response": json.loads(r.response)}
                    for r in conn.execute(sa.select(_records).order_by(_records.c.id))]

    def _attempt_count(self, key: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(_attempts)
                                .where(_attempts.c.idempotency_key == key)).scalar_one()

    def _note_attempt(self, key: str, outcome: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(_attempts).values(idempotency_key=key, outcome=outcome))


# ---- PayPal ----------------------------------------------------------------------------------------------

TOKEN_PATH = "/v1/oauth2/token"
BATCHES_PATH = "/v1/payments/payouts"
ITEMS_PATH = "/v1/payments/payouts-item"
_BATCH_LINK = re.compile(r"/v1/payments/payouts/([A-Za-z0-9_-]+)(?:[/?#]|$)")
# A token is renewed this long before PayPal said it expires (at most a tenth of its life).
TOKEN_MARGIN_SECONDS = 300


def paypal_value(amount_cents: int, currency: str) -> str:
    """Our integer cents as PayPal's amount string: 1234 USD -> "12.34"."""
    if currency.upper() in ZERO_DECIMAL_CURRENCIES:
        if amount_cents % 100:
            raise PayoutError("invalid_amount", f"{currency} amounts are whole units at PayPal.")
        return str(amount_cents // 100)
    return f"{amount_cents // 100}.{amount_cents % 100:02d}"


def cents_of(amount: dict | None) -> int | None:
    try:
        return int((Decimal(str(amount["value"])) * 100).to_integral_value())
    except (KeyError, TypeError, InvalidOperation):
        return None


def _reason(errors) -> str | None:
    """PayPal's error object (an item's `errors`, an error body) as one line: "NAME: message"."""
    if isinstance(errors, list):
        errors = errors[0] if errors else None
    if not isinstance(errors, dict):
        return None
    name, message = errors.get("name"), errors.get("message")
    return ": ".join(str(part) for part in (name, message) if part) or None


class PayPalPayouts:
    """PayPal Payouts over its REST API: OAuth2 client credentials (the token is kept until shortly before it
    expires and renewed once on a 401), one batch of one item per key, whose sender_batch_id and
    PayPal-Request-Id are the key. Thread-safe; configured only by its base URL and credentials."""

    name = "paypal"

    def __init__(self, client_id: str | None, client_secret: str | None, api_base: str, *, timeout: float = 20.0,
                 email_subject: str = "You have a commission payout"):
        self.client_id, self.client_secret = client_id, client_secret
        self.api_base = api_base.rstrip("/")
        self.email_subject = email_subject
        self._http = httpx.Client(base_url=self.api_base, timeout=timeout, headers={"Accept": "application/json"})
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_expires_at = 0.0

    # --- the interface ------------------------------------------------------------------------------
    def send(self, receiver: str, amount_cents: int, currency: str, *, idempotency_key: str) -> PayoutResult:
        if amount_cents <= 0:
            raise PayoutError("invalid_amount", "The amount must be positive.")
        receiver = receiver.strip()
        amount = {"value": paypal_value(amount_cents, currency), "currency": currency.upper()}
        body = {
            "sender_batch_header": {"sender_batch_id": idempotency_key, "recipient_type": "EMAIL",
                                    "email_subject": self.email_subject},
            "items": [{"recipient_type": "EMAIL", "amount": amount, "receiver": receiver,
                       "sender_item_id": idempotency_key, "note": "Commission"}],
        }
        response = self._request("POST", BATCHES_PATH, json=body, headers={"PayPal-Request-Id": idempotency_key})
        if response.status_code in (200, 201):
            header = self._json(response).get("batch_header") or {}
            if not header.get("payout_batch_id"):
                raise self._unavailable(response, "no payout_batch_id in the answer")
            return self._result(header, [], receiver=receiver, amount_cents=amount_cents)
        error = self._json(response, strict=False)
        if self._is_duplicate(error):
            # This key's batch exists (made by a try whose answer we lost): answer with it, never pay again.
            batch_id = self._linked_batch(error)
            if batch_id:
                log.info("PayPal already has batch %s for %s: answering with it", batch_id, idempotency_key)
                return self.status(batch_id)
            raise PayoutError("service_unavailable", UNAVAILABLE,
                              f"PayPal answered {error.get('name')} for {idempotency_key} without the first batch")
        raise self._refused(response, error)

    def status(self, reference: str) -> PayoutResult:
        response = self._request("GET", f"{BATCHES_PATH}/{quote(reference, safe='')}")
        if response.status_code == 200:
            body = self._json(response)
            return self._result(body.get("batch_header") or {}, body.get("items") or [])
        raise self._refused(response, self._json(response, strict=False))

    def cancel(self, item_reference: str) -> PayoutResult:
        path = f"{ITEMS_PATH}/{quote(item_reference, safe='')}"
        response = self._request("POST", f"{path}/cancel")
        if response.status_code != 200:
            # Refused: the item is no longer unclaimed (claimed, returned, cancelled already). Where is it?
            log.info("PayPal did not cancel item %s (%s): reading it", item_reference, response.status_code)
            response = self._request("GET", path)
            if response.status_code != 200:
                raise self._refused(response, self._json(response, strict=False))
        item = self._json(response)
        return self._result({"payout_batch_id": item.get("payout_batch_id")}, [item])

    # --- answers ------------------------------------------------------------------------------------
    @staticmethod
    def _result(header: dict, items: list, *, receiver: str = "", amount_cents: int | None = None) -> PayoutResult:
        batch_id = header.get("payout_batch_id") or (items[0].get("payout_batch_id") if items else None) or ""
        batch_status = (header.get("batch_status") or "").upper()
        amount = cents_of(header.get("amount"))
        if batch_status in FAILED_BATCH_STATUSES:
            return PayoutResult(batch_id, amount or amount_cents or 0, receiver, "failed", item_status=batch_status,
                                reason=_reason(header.get("errors")) or f"The batch was {batch_status.lower()}.")
        if not items:
            return PayoutResult(batch_id, amount or amount_cents or 0, receiver, "pending", item_status=batch_status or None)
        item = items[0]
        paid = item.get("payout_item") or {}
        receiver = paid.get("receiver") or receiver
        amount = cents_of(paid.get("amount")) or amount or amount_cents or 0
        tx = (item.get("transaction_status") or "").upper() or None
        if tx == "SUCCESS":
            status = "success"
        elif tx == UNCLAIMED:
            status = "unclaimed"
        elif tx in FAILED_ITEM_STATUSES:
            status = "failed"
        else:  # PENDING, ONHOLD (PayPal is reviewing it), or not processed yet
            status = "pending"
        reason = _reason(item.get("errors")) if status in ("failed", "unclaimed") else None
        return PayoutResult(batch_id, amount, receiver, status, item_reference=item.get("payout_item_id"),
                            item_status=tx, reason=reason or (tx if status in ("failed", "unclaimed") else None))

    @staticmethod
    def _is_duplicate(error: dict) -> bool:
        """The sender_batch_id was used already (PayPal: 400 USER_BUSINESS_ERROR naming SENDER_BATCH_ID, with a
        link to the first batch), or the PayPal-Request-Id was (DUPLICATE_REQUEST_ID)."""
        name = str(error.get("name") or "").upper()
        if name == "DUPLICATE_REQUEST_ID":
            return True
        if name != "USER_BUSINESS_ERROR":
            return False
        details = error.get("details") if isinstance(error.get("details"), list) else []
        said = " ".join(f"{d.get('field', '')} {d.get('issue', '')}" for d in details if isinstance(d, dict))
        said = f"{said} {error.get('message', '')}".upper()
        return "SENDER_BATCH_ID" in said or "DUPLICATE" in said or PayPalPayouts._linked_batch(error) is not None

    @staticmethod
    def _linked_batch(error: dict) -> str | None:
        """The first batch's id from the error's HATEOAS links. Only the id is taken: the request goes to our
        own base URL, never to a host named in an answer."""
        for link in error.get("links") or []:
            match = _BATCH_LINK.search(str((link or {}).get("href", "")))
            if match:
                return match.group(1)
        return None

    def _refused(self, response: httpx.Response, error: dict) -> PayoutError:
        detail = f"PayPal answered {response.status_code} {_describe(error)}"
        if response.status_code == 404:
            return PayoutError("not_found", "PayPal does not know this payout.", detail)
        if response.status_code == 403:
            log.error("PayPal refused the payouts call: %s", detail)
            return PayoutError("not_authorized", "PayPal does not allow payouts from the platform's account.", detail)
        return PayoutError("rejected", f"PayPal refused the payout: {_reason(error) or response.status_code}.", detail)

    @staticmethod
    def _unavailable(response: httpx.Response | None, what: str) -> PayoutError:
        code = f" {response.status_code}" if response is not None else ""
        return PayoutError("service_unavailable", UNAVAILABLE, f"PayPal{code}: {what}")

    def _json(self, response: httpx.Response, *, strict: bool = True) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
        if strict:
            raise self._unavailable(response, "the answer is not JSON")
        return {}

    # --- transport ----------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, json: dict | None = None,
                 headers: dict | None = None) -> httpx.Response:
        """One API call with a valid token; a 401 (the token expired or was revoked early) gets a new token
        and one more try. Outages raise service_unavailable."""
        token = self._access_token()
        response = self._send(method, path, json=json, headers={**(headers or {}), "Authorization": f"Bearer {token}"})
        if response.status_code == 401:
            log.info("PayPal refused the access token (%s): getting a new one", _describe(self._json(response, strict=False)))
            token = self._access_token(stale=token)
            response = self._send(method, path, json=json, headers={**(headers or {}), "Authorization": f"Bearer {token}"})
            if response.status_code == 401:
                detail = f"PayPal refused a new access token: {_describe(self._json(response, strict=False))}"
                log.error(detail)
                raise PayoutError("auth_failed", "PayPal refused the platform's credentials.", detail)
        return response

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise PayoutError("service_unavailable", UNAVAILABLE,
                              f"PayPal {method} {path}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise self._unavailable(response, f"{method} {path}: {_describe(self._json(response, strict=False))}")
        return response

    def _access_token(self, *, stale: str | None = None) -> str:
        """The cached token while it lasts; a new one when it is about to expire or is the `stale` one PayPal
        just refused (a token another thread renewed meanwhile is used as is)."""
        with self._lock:
            if self._token and self._token != stale and time.time() < self._token_expires_at:
                return self._token
            if not self.client_id or not self.client_secret:
                raise PayoutError("not_configured", "Payouts through PayPal are not set up on this platform yet.",
                                  "PAYOUTS=paypal needs PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET")
            response = self._send("POST", TOKEN_PATH, data={"grant_type": "client_credentials"},
                                  auth=(self.client_id, self.client_secret))
            body = self._json(response, strict=False)
            if response.status_code != 200 or not body.get("access_token"):
                detail = (f"PayPal refused the client credentials (PAYPAL_CLIENT_ID / PAYPAL_CLIENT_SECRET) with "
                          f"{response.status_code} {_describe(body)}")
                log.error(detail)
                raise PayoutError("auth_failed", "PayPal refused the platform's credentials.", detail)
            lifetime = max(0, int(body.get("expires_in") or 0))
            self._token = body["access_token"]
            self._token_expires_at = time.time() + lifetime - min(TOKEN_MARGIN_SECONDS, lifetime / 10)
            return self._token


def _describe(error: dict) -> str:
    """An error body, for the operator: PayPal's name and message (or OAuth's error and description),
    its debug_id, and each detail's field and issue."""
    if not error:
        return "(no error body)"
    parts = [str(error.get("name") or error.get("error") or "error")]
    message = error.get("message") or error.get("error_description")
    if message:
        parts.append(f"- {message}")
    for detail in error.get("details") or []:
        if isinstance(detail, dict):
            parts.append(f"[{detail.get('field', '')}: {detail.get('issue', '')}]")
    if error.get("debug_id"):
        parts.append(f"(debug_id {error['debug_id']})")
    return " ".join(parts)[:400]
