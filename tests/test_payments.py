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


@pytest.fixture
def gateway(db):
    return SandboxGateway(db.engine)


def _token(gateway, number, key=None):
    return gateway.tokenize(number, 12, NEXT_YEAR, "1234" if number.startswith("37") else "123",
                            idempotency_key=key or f"tok:{number}").token


def test_authorize_then_capture_once_per_key(gateway):
    token = _token(gateway, "4242424242424242")
    auth = gateway.authorize(token, 2500, "USD", idempotency_key="auth-1")
    assert (auth.status, auth.amount_cents) == ("authorized", 2500) and auth.reference.startswith("au_")
    captured = gateway.capture(auth.reference, 2500, idempotency_key="cap-1")
    assert (captured.reference, captured.amount_cents, captured.status) == (auth.reference, 2500, "captured")
    assert gateway.capture(auth.reference, 2500, idempotency_key="cap-1") == captured
    assert len(gateway.history("capture")) == 1
    with pytest.raises(GatewayError) as unknown:
        gateway.capture("au_nothing", 100, idempotency_key="cap-2")
    assert unknown.value.code == "invalid_reference"


def test_authorize_then_void_releases_once_per_key(gateway):
    token = _token(gateway, "5555555555554444")
    auth = gateway.authorize(token, 100, "USD", idempotency_key="auth-v")
    voided = gateway.void(auth.reference, idempotency_key="void-1")
    assert (voided.reference, voided.amount_cents, voided.status) == (auth.reference, 0, "voided")
    assert gateway.void(auth.reference, idempotency_key="void-1") == voided
    assert len(gateway.history("void")) == 1 and gateway.history("capture") == []


def test_the_generic_decline_card_is_declined_when_it_is_saved(gateway):
    # As Stripe's SetupIntent declines 4000 0000 0000 0002: no token, nothing to charge later.
    with pytest.raises(GatewayError) as declined:
        gateway.tokenize("4000000000000002", 12, NEXT_YEAR, "123", idempotency_key="tok-0002")
    assert declined.value.code == "card_declined"
    assert gateway.history("tokenize") == []


@pytest.mark.parametrize("number, code", [
    ("4000000000000341", "card_declined"),
    ("4000000000009995", "insufficient_funds"),
    ("4000000000000069", "expired_card"),
    ("4000000000000119", "processing_error"),
    ("4000002760003184", "authentication_required"),
])
def test_each_failing_test_card_tokenizes_and_then_fails_with_its_code(gateway, number, code):
    card = gateway.tokenize(number, 12, NEXT_YEAR, "123", idempotency_key=f"tok-{code}")
    assert (card.brand, card.last4) == ("visa", number[-4:])
    for op in (gateway.charge, gateway.authorize):
        with pytest.raises(GatewayError) as failed:
            op(card.token, 700, "USD", idempotency_key=f"{op.__name__}-{code}")
        assert failed.value.code == code and failed.value.message
        # The same key is the same answer, recorded once.
        with pytest.raises(GatewayError) as again:
            op(card.token, 700, "USD", idempotency_key=f"{op.__name__}-{code}")
        assert (again.value.code, again.value.message) == (failed.value.code, failed.value.message)
    assert len(gateway.history("charge")) == 1 and len(gateway.history("authorize")) == 1


def test_the_same_key_is_the_same_answer_and_a_new_key_a_new_charge(gateway):
    token = _token(gateway, "378282246310005")
    first = gateway.charge(token, 7000, "USD", idempotency_key="renewal:1:2030-01-01:attempt-1")
    assert first.status == "succeeded" and first.reference.startswith("ch_")
    assert gateway.charge(token, 7000, "USD", idempotency_key="renewal:1:2030-01-01:attempt-1") == first
    # A repeat with another amount still gets the first answer: a key is charged once, whatever follows.
    assert gateway.charge(token, 1, "USD", idempotency_key="renewal:1:2030-01-01:attempt-1") == first
    second = gateway.charge(token, 7000, "USD", idempotency_key="renewal:1:2030-01-01:attempt-2")
    assert second.reference != first.reference
    assert [r["amount_cents"] for r in gateway.history("charge")] == [7000, 7000]
    # Tokenizing again with the same key gives the same token; refunds too are once per key.
    assert _token(gateway, "378282246310005") == token
    refund = gateway.refund(first.reference, 7000, idempotency_key="refund-1")
    assert gateway.refund(first.reference, 7000, idempotency_key="refund-1") == refund
    assert len(gateway.history("refund")) == 1


def test_the_sandbox_refuses_what_a_processor_would(gateway):
    with pytest.raises(GatewayError) as unknown_card:
        gateway.tokenize("4111111111111111", 12, NEXT_YEAR, "123", idempotency_key="tok-x")
    assert unknown_card.value.code == "card_declined"
    with pytest.raises(GatewayError) as unknown_token:
        gateway.charge("tok_nope", 100, "USD", idempotency_key="c-x")
    assert unknown_token.value.code == "invalid_token"
    token = _token(gateway, "4242424242424242")
    with pytest.raises(GatewayError) as zero:
        gateway.charge(token, 0, "USD", idempotency_key="c-0")
    assert zero.value.code == "invalid_amount"


def test_the_readme_lists_every_card_the_sandbox_defines():
    """README's sandbox card table is the one users read: every test card, with what it does."""
    from pathlib import Path

    from webapp.adapters.payments import DECLINED_ON_SAVE, DECLINES, TEST_CARDS
    readme = Path(__file__).resolve().parents[1].joinpath("README.md").read_text()
    section = readme.split("### The sandbox card processor", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    listed = {}
    for row in rows:
        numbers, behaviour = [cell.strip() for cell in row.strip("|").split("|")]
        for number in numbers.split(","):
            listed["".join(ch for ch in number if ch.isdigit())] = behaviour
    assert set(listed) == TEST_CARDS
    words = {"card_declined": "declined", "insufficient_funds": "insufficient funds", "expired_card": "expired",
             "processing_error": "processing error", "authentication_required": "authentication"}
    for number, code in DECLINES.items():
        assert words[code] in listed[number], number
    for number in DECLINED_ON_SAVE:
        assert "declined when it is saved" in listed[number], number
