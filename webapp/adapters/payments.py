"""The payment gateway: one interface, and a sandbox that behaves like a card processor's test mode.

The sandbox stands in for a remote service, so it keeps its own records in its own table and
commits them on its own connection, outside the caller's transaction: a charge it has taken stays
taken even if the caller crashes before committing, and the same idempotency key always returns
the first answer, never a second charge. Card numbers never leave this module, nor reach a table or
a log: callers get a token, the brand, the last four digits and the expiry, and the sandbox keeps
only the token and what its test card does.

Test cards (any future expiry, any 3-digit CVC, 4 digits for Amex), as Stripe's test cards behave:

| number              | behaviour                                            |
| ------------------- | ---------------------------------------------------- |
| 4242 4242 4242 4242 | Visa, every charge succeeds                          |
| 5555 5555 5555 4444 | Mastercard, every charge succeeds                    |
| 3782 822463 10005   | American Express, every charge succeeds              |
| 4000 0000 0000 0002 | declined when it is saved (as a SetupIntent would be) |
| 4000 0000 0000 0341 | saved; every charge is declined                      |
| 4000 0000 0000 9995 | saved; charges fail: insufficient funds              |
| 4000 0000 0000 0069 | saved; charges fail: expired card                    |
| 4000 0000 0000 0119 | saved; charges fail: processing error                |
| 4000 0027 6000 3184 | saved; charges fail: the bank asks for authentication (SCA) |

The interface every gateway gives (`Gateway`, below) is what billing, renewals, commission and the API
use; `StripeGateway` (adapters/stripe_gateway.py) is the other one.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa

# Decline code -> what the agency is told. Every gateway answers with these codes, so the UI and the
# dunning rules (B8) behave the same whichever is configured.
MESSAGES = {
    "card_declined": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "expired_card": "The card has expired.",
    "processing_error": "The card processor could not process the card; try again.",
    "authentication_required": ("The bank asks the card holder to confirm payments with this card: save the card "
                                "again in Billing profile to confirm it."),
    "gateway_unavailable": "The card processor could not be reached; the payment will be tried again.",
}
OUTAGE = "gateway_unavailable"
# Test cards whose charges fail, with the decline code; and the one declined when it is saved.
DECLINES = {
    "4000000000000341": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "4000000000000119": "processing_error",
    "4000002760003184": "authentication_required",
}
DECLINED_ON_SAVE = {"4000000000000002": "card_declined"}
TEST_CARDS = {"4242424242424242", "5555555555554444", "378282246310005", *DECLINES, *DECLINED_ON_SAVE}
SUCCEEDS = "succeeds"


class GatewayError(Exception):
    """The gateway refused: `code` is stable (card_declined, insufficient_funds, ... see MESSAGES)."""

    def __init__(self, code: str, message: str | None = None):
        message = message or MESSAGES.get(code, MESSAGES["card_declined"])
        super().__init__(message)
        self.code = code
        self.message = message


class GatewayUnavailable(GatewayError):
    """The gateway could not be reached or failed (connection refused, timeout, 5xx): whether the request
    was done is unknown, so it is tried again later with the same idempotency key, never a new one."""

    def __init__(self, message: str | None = None):
        super().__init__(OUTAGE, message)


@dataclass(frozen=True)
class CardToken:
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    # The processor's customer the card is attached to (Stripe's cus_...); None under the sandbox.
    customer: str | None = None


@dataclass(frozen=True)
class CardSetupStart:
    """A card form to show: the processor's setup (a SetupIntent) and the secret its card form confirms."""

    setup_ref: str
    client_secret: str
    customer: str | None


@dataclass(frozen=True)
class GatewayResult:
    reference: str
    amount_cents: int
    status: str  # succeeded, authorized, captured, voided


class Gateway(Protocol):
    """What billing asks of a card processor. Every money call takes our idempotency key: the same key
    again answers with the first result and never moves money twice. Errors are GatewayError (a decline,
    with one of the MESSAGES codes) or GatewayUnavailable (try again later with the same key)."""

    name: str
    # True: the processor's own card form collects the number (Stripe.js) and AgencyHQ never sees it;
    # False: the number is posted to AgencyHQ, which hands it to `tokenize` (the offline sandbox only).
    collects_card: bool
    # Its card form's script and public key (when collects_card); "" and None for the offline sandbox.
    js_url: str
    publishable_key: str | None
    # True: it signs and sends events (webhooks) that `parse_event` checks; the sandbox sends none.
    sends_events: bool

    def tokenize(self, number: str, exp_month: int, exp_year: int, cvc: str, *, idempotency_key: str) -> CardToken: ...

    def start_card_setup(self, *, customer: str | None, description: str, metadata: dict,
                         idempotency_key: str) -> CardSetupStart: ...

    def finish_card_setup(self, setup_ref: str) -> CardToken: ...

    def card(self, token: str) -> CardToken: ...

    def charge(self, token: str, amount_cents: int, currency: str, *, idempotency_key: str,
               customer: str | None = None) -> "GatewayResult": ...

    def authorize(self, token: str, amount_cents: int, currency: str, *, idempotency_key: str,
                  customer: str | None = None) -> "GatewayResult": ...

    def capture(self, reference: str, amount_cents: int, *, idempotency_key: str) -> "GatewayResult": ...

    def void(self, reference: str, *, idempotency_key: str) -> "GatewayResult": ...

    def refund(self, reference: str, amount_cents: int, *, idempotency_key: str) -> "GatewayResult": ...

    def parse_event(self, payload: bytes, signature: str | None) -> dict:
        """The processor's event, its signature and age checked; GatewayError when it is not genuine."""


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4] or 0) <= 2720:
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    if number.startswith("6011") or number.startswith("65"):
        return "discover"
    return "card"


_records = sa.Table(
    "sandbox_gateway_records", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("idempotency_key", sa.String(120), nullable=False, unique=True),
    sa.Column("op", sa.String(20), nullable=False),
    sa.Column("token", sa.String(64)),
    sa.Column("amount_cents", sa.BigInteger),
    sa.Column("response", sa.Text, nullable=False),
)


class SandboxGateway:
    """A test-mode card processor. Thread- and process-safe: its memory is a table."""

    name = "sandbox"
    collects_card = False
    js_url = ""
    publishable_key = None
    sends_events = False

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._cards: dict[str, dict] = {}  # token -> card: tokens never change
        _records.create(engine, checkfirst=True)
        self._forget_numbers()

    # --- the interface -----------------------------------------------------------------------

    def parse_event(self, payload: bytes, signature: str | None) -> dict:
        raise GatewayError("processing_error", "The sandbox sends no events.")
    def tokenize(self, number: str, exp_month: int, exp_year: int, cvc: str, *, idempotency_key: str) -> CardToken:
        number = "".join(ch for ch in number if ch.isdigit())
        if number not in TEST_CARDS:
            raise GatewayError("card_declined", "The sandbox only accepts its documented test cards.")
        if number in DECLINED_ON_SAVE:
            raise GatewayError(DECLINED_ON_SAVE[number])

        def make():
            # What the test card does is kept with its token; the number itself is not kept anywhere.
            return {"token": "tok_" + secrets.token_hex(12), "brand": card_brand(number), "last4": number[-4:],
                    "exp_month": exp_month, "exp_year": exp_year,
                    "behaviour": DECLINES.get(number, SUCCEEDS)}
        response = self._once(idempotency_key, "tokenize", make)
        return CardToken(response["token"], response["brand"], response["last4"], response["exp_month"],
                         response["exp_year"])

    def start_card_setup(self, *, customer, description, metadata, idempotency_key) -> CardSetupStart:
        raise GatewayError("processing_error", "The sandbox takes the card on AgencyHQ's own form (tokenize).")

    def finish_card_setup(self, setup_ref: str) -> CardToken:
        raise GatewayError("processing_error", "The sandbox takes the card on AgencyHQ's own form (tokenize).")

    def card(self, token: str) -> CardToken:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_records.c.response).where(_records.c.op == "tokenize",
                                                                    _records.c.token == token)).first()
        if row is None:
            raise GatewayError("card_declined", "The card token is unknown to the gateway.")
        r = json.loads(row.response)
        return CardToken(r["token"], r["brand"], r["last4"], r["exp_month"], r["exp_year"])

    def charge(self, token: str, amount_cents: int, currency: str, *, idempotency_key: str,
               customer: str | None = None) -> GatewayResult:
        return self._money_op("charge", token, amount_cents, idempotency_key, "succeeded")

    def authorize(self, token: str, amount_cents: int, currency: str, *, idempotency_key: str,
                  customer: str | None = None) -> GatewayResult:
        return self._money_op("authorize", token, amount_cents, idempotency_key, "authorized")

    def capture(self, reference: str, amount_cents: int, *, idempotency_key: str) -> GatewayResult:
        auth = self._by_reference(reference, "authorize")
        response = self._once(idempotency_key, "capture", lambda: {
            "reference": reference, "amount_cents": amount_cents, "status": "captured"}, token=auth["token"])
        return GatewayResult(response["reference"], response["amount_cents"], response["status"])

    def void(self, reference: str, *, idempotency_key: str) -> GatewayResult:
        auth = self._by_reference(reference, "authorize")
        response = self._once(idempotency_key, "void", lambda: {
            "reference": reference, "amount_cents": 0, "status": "voided"}, token=auth["token"])
        return GatewayResult(response["reference"], response["amount_cents"], response["status"])

    def refund(self, reference: str, amount_cents: int, *, idempotency_key: str) -> GatewayResult:
        charge = self._by_reference(reference, "charge")
        response = self._once(idempotency_key, "refund", lambda: {
            "reference": "re_" + secrets.token_hex(10), "amount_cents": amount_cents, "status": "refunded"},
            token=charge["token"])
        return GatewayResult(response["reference"], response["amount_cents"], response["status"])

    # --- for tests and the UI: what the processor saw ---------------------------------------------
    def history(self, op: str | None = None) -> list[dict]:
        with self.engine.connect() as conn:
            stmt = sa.select(_records).order_by(_records.c.id)
            if op:
                stmt = stmt.where(_records.c.op == op)
            return [{**dict(row._mapping), "response": json.loads(row.response)} for row in conn.execute(stmt)]

    # --- internals ------------------------------------------------------------------------------
    def _forget_numbers(self) -> None:
        """A table made by an earlier sandbox kept each test card's number: its tokens get their
        behaviour instead and the column goes (this table is the sandbox's own, not a migration's)."""
        columns = {c["name"] for c in sa.inspect(self.engine).get_columns(_records.name)}
        if "number" not in columns:
            return
        with self.engine.begin() as conn:
            rows = conn.execute(sa.text(f"SELECT id, number, response FROM {_records.name} "
                                        "WHERE number IS NOT NULL")).all()
            for row in rows:
                response = json.loads(row.response)
                response.setdefault("behaviour", DECLINES.get(row.number, SUCCEEDS))
                conn.execute(sa.text(f"UPDATE {_records.name} SET response = :response, number = NULL "
                                     "WHERE id = :id"), {"response": json.dumps(response), "id": row.id})
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.text(f"ALTER TABLE {_records.name} DROP COLUMN number"))
        except sa.exc.DBAPIError:
            pass  # another process dropped it first; the numbers are gone either way

    def _money_op(self, op, token, amount_cents, key, status) -> GatewayResult:
        if amount_cents <= 0:
            raise GatewayError("invalid_amount", "The amount must be positive.")
        card = self._card(token)

        def make():
            if card["behaviour"] != SUCCEEDS:
                # An earlier sandbox declined 0002 on charges and kept it so; it is declined as before.
                code = card["behaviour"] if card["behaviour"] in MESSAGES else "card_declined"
                return {"error": code, "message": MESSAGES[code]}
            prefix = "ch_" if op == "charge" else "au_"
            return {"reference": prefix + secrets.token_hex(10), "amount_cents": amount_cents, "status": status}
        response = self._once(key, op, make, token=token, amount_cents=amount_cents)
        if "error" in response:
            raise GatewayError(response["error"], response["message"])
        return GatewayResult(response["reference"], response["amount_cents"], response["status"])

    def _card(self, token: str) -> dict:
        if token in self._cards:
            return self._cards[token]
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_records).where(_records.c.op == "tokenize",
                                                         _records.c.token == token)).first()
        if row is None:
            raise GatewayError("invalid_token", "The card token is unknown to the gateway.")
        self._cards[token] = {"token": token, "behaviour": json.loads(row.response)["behaviour"]}
        return self._cards[token]

    def _by_reference(self, reference: str, op: str) -> dict:
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(_records).where(_records.c.op == op)):
                if json.loads(row.response).get("reference") == reference:
                    return dict(row._mapping)
        raise GatewayError("invalid_reference", f"No {op} {reference} at the gateway.")

    def _once(self, key: str, op: str, make, **columns) -> dict:
        """The first answer for `key`, made by `make` and kept, committed at once on its own connection."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_records.c.response).where(_records.c.idempotency_key == key)).first()
            if row is not None:
                return json.loads(row.response)
        response = make()
        if op == "tokenize":
            columns["token"] = response["token"]
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(_records).values(idempotency_key=key, op=op, response=json.dumps(response),
                                                        **columns))
        except sa.exc.IntegrityError:
            # Another caller with the same key got there first: its answer is the answer.
            with self.engine.connect() as conn:
                return json.loads(conn.execute(sa.select(_records.c.response)
                                               .where(_records.c.idempotency_key == key)).scalar_one())
        return response
