"""The sandbox payment gateway (webapp/adapters/payments.py) on its own: what a processor's test mode
does with each documented test card, and the same idempotency key always giving the same answer."""
from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from webapp.adapters.payments import GatewayError, SandboxGateway

NEXT_YEAR = date.today().year + 1


def test_a_table_from_an_earlier_sandbox_forgets_its_card_numbers(tmp_path):
    """The sandbox used to keep each test card's number in its table: on start it keeps what the
    card does instead, and drops the column, so the tokens saved then still charge as they did."""
    engine = sa.create_engine(f"sqlite:///{tmp_path}/old.db")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE sandbox_gateway_records (id INTEGER PRIMARY KEY, "
                             "idempotency_key VARCHAR(120) NOT NULL UNIQUE, op VARCHAR(20) NOT NULL, "
                             "token VARCHAR(64), number VARCHAR(19), amount_cents BIGINT, response TEXT NOT NULL)"))
        for key, token, number in (("t1", "tok_good", "4242424242424242"), ("t2", "tok_poor", "4000000000009995")):
            response = {"token": token, "brand": "visa", "last4": number[-4:], "exp_month": 12, "exp_year": NEXT_YEAR}
            conn.execute(sa.text("INSERT INTO sandbox_gateway_records (idempotency_key, op, token, number, response) "
                                 "VALUES (:key, 'tokenize', :token, :number, :response)"),
                         {"key": key, "token": token, "number": number, "response": json.dumps(response)})
    gateway = SandboxGateway(engine)
    assert "number" not in {c["name"] for c in sa.inspect(engine).get_columns("sandbox_gateway_records")}
    with engine.connect() as conn:
        dump = " ".join(str(row) for row in conn.execute(sa.text("SELECT * FROM sandbox_gateway_records")))
    assert "4242424242424242" not in dump and "4000000000009995" not in dump
    assert gateway.charge("tok_good", 700, "USD", idempotency_key="c1").status == "succeeded"
    with pytest.raises(GatewayError) as declined:
        gateway.charge("tok_poor", 700, "USD", idempotency_key="c2")
    assert declined.value.code == "insufficient_funds"
    SandboxGateway(engine)  # a second start finds nothing left to do
    engine.dispose()
