"""PayPal Payouts for the tests: PayPal publishes no fake server, so this is a small one, a real HTTP server on
a free loopback port in a thread, with the endpoints the adapter (webapp/adapters/payouts.py) uses and the
answers, status codes and error bodies PayPal documents. The tests point PAYPAL_API_BASE at `.url`, exactly
as production points it at https://api-m.paypal.com.

- `POST /v1/oauth2/token`: client credentials in Basic auth, `grant_type=client_credentials`; a token lives
  `token_lifetime` seconds (PayPal: 32400) by `time.time()`, so a test clock moves it. Bad credentials: 401
  `{"error": "invalid_client", "error_description": "Client Authentication failed"}`.
- Every other call needs `Authorization: Bearer <a live token>`, else 401 `{"error": "invalid_token", ...}`.
- `POST /v1/payments/payouts`: validated (400 `VALIDATION_ERROR` with `details`); answers 201 with the
  batch header, PENDING. The same `PayPal-Request-Id` again answers with that batch as it is now; the same
  `sender_batch_id` under another (or no) request id answers 400 `USER_BUSINESS_ERROR` naming
  SENDER_BATCH_ID, with the HATEOAS link to the first batch, as PayPal documents for 30 days.
- `GET /v1/payments/payouts/{payout_batch_id}`, `GET /v1/payments/payouts-item/{payout_item_id}`.
- `POST /v1/payments/payouts-item/{payout_item_id}/cancel`: an UNCLAIMED item becomes RETURNED. PayPal
  documents only that nothing else can be cancelled, not the error body: the stand-in answers 400
  `USER_BUSINESS_ERROR`, and the adapter reads the item again on any refusal.

Knobs for the tests: `fail_next(n, status)` (503, 500, 429, or 0 to drop the connection; `after=True` does
the work first, as an answer lost on the way back), `stall_next(n)` (no answer until the client times out),
`set_outcome(receiver, "UNCLAIMED" | "FAILED" | ...)`, `process()` (PayPal processes the pending batches),
`claim(receiver)`, `revoke_tokens()`, `forget_request_ids()` (PayPal keeps them 30 days only), and what was
asked: `calls`, `token_requests`, `batches`.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

INFO = "https://developer.paypal.com/docs/api/payments.payouts-batch/#errors"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
VALUE = re.compile(r"^\d{1,10}(\.\d{1,2})?$")
# The reason PayPal gives in an item's `errors` for each outcome, unless a test names one.
DEFAULT_ERRORS = {
    "UNCLAIMED": ("RECEIVER_UNREGISTERED", "Receiver is unregistered"),
    "FAILED": ("RECEIVER_ACCOUNT_LOCKED", "Receiver account is locked or inactive"),
    "BLOCKED": ("RISK_DECLINE", "Transaction declined due to risk"),
    "RETURNED": ("RECEIVER_UNCONFIRMED", "Receiver is unconfirmed"),
}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id(n: int = 13) -> str:
    return secrets.token_hex(8).upper()[:n]


class PayPalStandIn:
    def __init__(self, client_id: str = "test-client-id", client_secret: str = "test-client-secret",
                 token_lifetime: int = 32400):
        self.client_id, self.client_secret, self.token_lifetime = client_id, client_secret, token_lifetime
        self.lock = threading.RLock()
        self.tokens: dict[str, float] = {}
        self.batches: dict[str, dict] = {}
        self.by_sender_batch_id: dict[str, str] = {}
        self.by_request_id: dict[str, str] = {}
        self.outcomes: dict[str, tuple[str, str | None, str | None]] = {}
        self.outages: list[dict] = []
        self.release = threading.Event()
        self.calls: list[tuple[str, str]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                stand_in._handle(self)

            def do_POST(self):
                stand_in._handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="paypal-stand-in", daemon=True)

    def start(self) -> PayPalStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    # ---- knobs --------------------------------------------------------------------------------------------
    def fail_next(self, count: int = 1, status: int = 503, *, after: bool = False, path: str | None = None) -> None:
        """The next `count` calls (to `path` only, if given) fail: `status` 5xx or 429 with PayPal's body, or
        0 to drop the connection; `after`: the work is done first and the answer lost."""
        with self.lock:
            self.outages += [{"status": status, "after": after, "path": path}] * count

    def stall_next(self, count: int = 1, *, path: str | None = None) -> None:
        """The next `count` calls (to `path` only, if given) get no answer until the client gives up."""
        with self.lock:
            self.outages += [{"status": "stall", "after": False, "path": path}] * count

    def set_outcome(self, receiver: str, status: str, name: str | None = None, message: str | None = None) -> None:
        """What PayPal makes of this receiver's items when it processes them (SUCCESS when not set)."""
        with self.lock:
            self.outcomes[receiver.lower()] = (status, name, message)

    def process(self) -> None:
        """PayPal processes every pending batch: SUCCESS, and each item as its receiver's outcome."""
        with self.lock:
            for batch in self.batches.values():
                if batch["header"]["batch_status"] not in ("PENDING", "PROCESSING"):
                    continue
                batch["header"].update(batch_status="SUCCESS", time_completed=_now())
                for item in batch["items"]:
                    status, name, message = self.outcomes.get(item["payout_item"]["receiver"].lower(),
                                                              ("SUCCESS", None, None))
                    self._set_item(item, status, name, message)

    def claim(self, receiver: str) -> None:
        """The receiver makes a PayPal account and claims what was held for them."""
        with self.lock:
            for item in self._items():
                if item["payout_item"]["receiver"].lower() == receiver.lower() and item["transaction_status"] == "UNCLAIMED":
                    self._set_item(item, "SUCCESS")

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def forget_request_ids(self) -> None:
        with self.lock:
            self.by_request_id.clear()

    @property
    def token_requests(self) -> int:
        return sum(1 for method, path in self.calls if path == "/v1/oauth2/token")

    def created(self) -> list[dict]:
        """The batches made, oldest first, as (sender_batch_id, receiver, value, status of the item)."""
        with self.lock:
            return [{"sender_batch_id": b["header"]["sender_batch_header"]["sender_batch_id"],
                     "payout_batch_id": b["header"]["payout_batch_id"],
                     "receiver": b["items"][0]["payout_item"]["receiver"],
                     "value": b["items"][0]["payout_item"]["amount"]["value"],
                     "transaction_status": b["items"][0]["transaction_status"]} for b in self.batches.values()]

    # ---- the server ---------------------------------------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        path = request.path.split("?", 1)[0]
        with self.lock:
            self.calls.append((request.command, path))
            outage = next((o for o in self.outages if o["path"] in (None, path)), None)
            if outage is not None:
                self.outages.remove(outage)
        if outage and outage["status"] == "stall":
            self.release.wait(30)  # the client gives up first (GATEWAY_TIMEOUT)
            request.close_connection = True
            return
        if outage and not outage["after"]:
            return self._outage(request, outage)
        status, body = self._route(request, path, raw)
        if outage:  # done, and the answer is lost
            return self._outage(request, outage)
        self._reply(request, status, body)

    def _outage(self, request, outage: dict) -> None:
        if outage["status"] == 0:
            request.close_connection = True  # the connection drops without an answer
            return
        names = {500: ("INTERNAL_SERVICE_ERROR", "An internal service error has occurred."),
                 503: ("SERVICE_UNAVAILABLE", "Service Unavailable."),
                 429: ("RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting.")}
        name, message = names.get(outage["status"], ("INTERNAL_SERVICE_ERROR", "An internal service error has occurred."))
        self._reply(request, outage["status"], self._error(name, message))

    @staticmethod
    def _reply(request, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.send_header("Paypal-Debug-Id", _id(13).lower())
        request.end_headers()
        request.wfile.write(data)

    @staticmethod
    def _error(name: str, message: str, details: list | None = None, links: list | None = None) -> dict:
        body = {"name": name, "message": message, "debug_id": _id(13).lower(), "information_link": INFO}
        if details is not None:
            body["details"] = details
        if links is not None:
            body["links"] = links
        return body

    def _route(self, request, path: str, raw: bytes) -> tuple[int, dict]:
        if request.command == "POST" and path == "/v1/oauth2/token":
            return self._token(request, raw)
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        with self.lock:
            live = self.tokens.get(token, 0) > time.time()
        if not live:
            return 401, {"error": "invalid_token", "error_description": "Access Token not found in cache"}
        if request.command == "POST" and path == "/v1/payments/payouts":
            return self._create(request, raw)
        match = re.fullmatch(r"/v1/payments/payouts/([A-Z0-9]+)", path)
        if request.command == "GET" and match:
            with self.lock:
                batch = self.batches.get(match.group(1))
                if batch is None:
                    return 404, self._error("INVALID_RESOURCE_ID", "Requested resource ID was not found.")
                return 200, {"batch_header": dict(batch["header"]), "items": [dict(i) for i in batch["items"]],
                             "links": [self._link(batch["header"]["payout_batch_id"])]}
        match = re.fullmatch(r"/v1/payments/payouts-item/([A-Z0-9]+)(/cancel)?", path)
        if match:
            with self.lock:
                item = next((i for i in self._items() if i["payout_item_id"] == match.group(1)), None)
                if item is None:
                    return 404, self._error("INVALID_RESOURCE_ID", "Requested resource ID was not found.")
                if request.command == "POST" and match.group(2):
                    if item["transaction_status"] != "UNCLAIMED":
                        return 400, self._error("USER_BUSINESS_ERROR", "User business error.",
                                                [{"issue": "Only an UNCLAIMED item can be cancelled."}])
                    self._set_item(item, "RETURNED")
                    item.pop("errors", None)
                if request.command == "GET" or match.group(2):
                    return 200, dict(item)
        return 404, self._error("INVALID_RESOURCE_ID", "Requested resource ID was not found.")

    def _token(self, request, raw: bytes) -> tuple[int, dict]:
        try:
            user, _, password = base64.b64decode(
                (request.headers.get("Authorization") or "").removeprefix("Basic ").strip()).decode().partition(":")
        except ValueError:
            user = password = ""
        if (user, password) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client", "error_description": "Client Authentication failed"}
        if parse_qs(raw.decode()).get("grant_type") != ["client_credentials"]:
            return 400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}
        token = "A21AA" + secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = time.time() + self.token_lifetime
        return 200, {"scope": "https://uri.paypal.com/services/payments/payouts", "access_token": token,
                     "token_type": "Bearer", "app_id": "APP-80W284485P519543T", "expires_in": self.token_lifetime,
                     "nonce": f"{_now()}{secrets.token_hex(8)}"}

    def _create(self, request, raw: bytes) -> tuple[int, dict]:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return 400, self._error("MALFORMED_REQUEST", "Incoming JSON request does not map to API request")
        problems = self._validate(body)
        if problems:
            return 400, self._error("VALIDATION_ERROR", "Invalid request - see details", problems, [])
        header = body["sender_batch_header"]
        sender_batch_id = header.get("sender_batch_id")
        request_id = request.headers.get("PayPal-Request-Id")
        with self.lock:
            if request_id and request_id in self.by_request_id:
                return 201, self._created(self.batches[self.by_request_id[request_id]])
            if sender_batch_id and sender_batch_id in self.by_sender_batch_id:
                first = self.by_sender_batch_id[sender_batch_id]
                return 400, self._error(
                    "USER_BUSINESS_ERROR", "User business error.",
                    [{"field": "SENDER_BATCH_ID", "location": "body",
                      "issue": "Batch with given sender_batch_id already exists"}], [self._link(first)])
            batch_id = _id()
            items = []
            for item in body["items"]:
                items.append({
                    "payout_item_id": _id(), "transaction_id": None, "transaction_status": "PENDING",
                    "payout_item_fee": {"currency": item["amount"]["currency"], "value": "0.00"},
                    "payout_batch_id": batch_id,
                    "payout_item": {"recipient_type": item.get("recipient_type") or header.get("recipient_type"),
                                    "amount": dict(item["amount"]), "note": item.get("note"),
                                    "receiver": item["receiver"], "sender_item_id": item.get("sender_item_id")},
                    "links": []})
            total = sum(float(i["amount"]["value"]) for i in body["items"])
            batch = {"header": {"payout_batch_id": batch_id, "batch_status": "PENDING", "time_created": _now(),
                                "sender_batch_header": dict(header),
                                "amount": {"currency": body["items"][0]["amount"]["currency"], "value": f"{total:.2f}"},
                                "fees": {"currency": body["items"][0]["amount"]["currency"], "value": "0.00"}},
                     "items": items}
            self.batches[batch_id] = batch
            if sender_batch_id:
                self.by_sender_batch_id[sender_batch_id] = batch_id
            if request_id:
                self.by_request_id[request_id] = batch_id
            return 201, self._created(batch)

    @staticmethod
    def _validate(body) -> list[dict]:
        if not isinstance(body, dict) or not isinstance(body.get("sender_batch_header"), dict):
            return [{"field": "sender_batch_header", "location": "body", "issue": "Required field is missing"}]
        items = body.get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= 15000:
            return [{"field": "items", "location": "body", "issue": "Required field is missing"}]
        problems = []
        for n, item in enumerate(items):
            amount = item.get("amount") if isinstance(item, dict) else None
            if not isinstance(amount, dict) or not isinstance(amount.get("value"), str) \
                    or not VALUE.match(amount["value"]) or float(amount["value"]) <= 0:
                problems.append({"field": f"items[{n}].amount.value", "location": "body",
                                 "issue": "Amount value is invalid"})
            elif not re.fullmatch(r"[A-Z]{3}", str(amount.get("currency"))):
                problems.append({"field": f"items[{n}].amount.currency", "location": "body",
                                 "issue": "Currency code is invalid"})
            if not isinstance(item, dict) or not EMAIL.match(str(item.get("receiver") or "")):
                problems.append({"field": f"items[{n}].receiver", "location": "body",
                                 "issue": "Receiver is invalid or does not match with type"})
        return problems

    def _created(self, batch: dict) -> dict:
        header = batch["header"]
        return {"batch_header": {"payout_batch_id": header["payout_batch_id"], "batch_status": header["batch_status"],
                                 "sender_batch_header": header["sender_batch_header"]},
                "links": [self._link(header["payout_batch_id"])]}

    def _link(self, batch_id: str) -> dict:
        return {"href": f"{self.url}/v1/payments/payouts/{batch_id}", "rel": "self", "method": "GET",
                "encType": "application/json"}

    def _items(self):
        for batch in self.batches.values():
            yield from batch["items"]

    @staticmethod
    def _set_item(item: dict, status: str, name: str | None = None, message: str | None = None) -> None:
        item.update(transaction_status=status, time_processed=_now())
        if status in ("SUCCESS", "UNCLAIMED") and not item.get("transaction_id"):
            item["transaction_id"] = _id(17)
        default = DEFAULT_ERRORS.get(status)
        if status in ("SUCCESS", "PENDING", "ONHOLD") or not (name or default):
            item.pop("errors", None)
        else:
            item["errors"] = {"name": name or default[0], "message": message or default[1],
                              "information_link": INFO}
