"""Commission payouts (C3): one interface, and a sandbox that behaves like PayPal Payouts.

Like the payment sandbox it stands in for a remote service: it keeps its own table, written on its
own connection outside the caller's transaction, so a payout it has sent stays sent even if the
caller crashes before committing; the same idempotency key (PayPal's sender_batch_id) returns the
first answer instead of paying twice. A refused request is not kept, as PayPal keeps no batch for
it: the same key may be tried again later.

Test receivers:

| e-mail                         | behaviour                                              |
| ------------------------------ | ------------------------------------------------------ |
| anything else                  | paid                                                   |
| unavailable@paypal.test        | the service is down: fails every time (retry later)    |
| fail-once@paypal.test          | fails on the first try for a key, paid on the next     |
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

FAILING_RECEIVERS = {"unavailable@paypal.test"}
FLAKY_RECEIVER = "fail-once@paypal.test"


class PayoutError(Exception):
    """The payout service refused or could not be reached; `code` is stable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PayoutResult:
    reference: str
    amount_cents: int
    receiver: str
    status: str  # "success"


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
    """A test-mode PayPal Payouts. Thread- and process-safe: its memory is its tables."""

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
            raise PayoutError("service_unavailable", "PayPal could not be reached; the payout will be retried.")
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
