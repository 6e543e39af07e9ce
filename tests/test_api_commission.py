"""The Agency API's Commission (X1 over C1-C3): the summary, the referred accounts, the payouts and the
PayPal e-mail, over the same service and permissions as the dashboard's Commission tab."""
from __future__ import annotations

import sqlalchemy as sa

from webapp.catalog import get_catalog
from webapp.models import Agency, AuditEvent, Payout
from webapp.services import api_tokens, commission

from .helpers import make_agency, make_member
from .test_api import ACTOR, Api, error_of, new_token
from .test_commission import LAST_MONTH, earn


def _patch(api, json):
    return api.client.patch("/api/v1/commission/settings", json=json, headers=api._headers(None))


def test_summary_accounts_and_payouts_are_the_tabs(client, db):
    agency, owner = make_agency(email="comm-api@agency.test")
    agency.paypal_email = "me@agency.test"
    db.session.commit()
    earn(db, agency, 3000, LAST_MONTH)
    earn(db, agency, 4000, LAST_MONTH)
    api = Api(client, new_token(owner))
    summary = api.get("/commission").json
    assert summary["referral_url"].endswith(f"/r/{agency.referral_code}")
    assert summary["paypal_email"] == "me@agency.test" and summary["unpaid_cents"] == 7000
    minimum = get_catalog().commission_payout_minimum_cents
    assert summary["next_payout"] == {"month": LAST_MONTH, "due_cents": 7000, "minimum_cents": minimum,
                                      "waiting_for": None if 7000 >= minimum else "below_minimum", "payout": None}
    assert summary["rate_bp"] == get_catalog().commission_rate_bp
    assert [m["month"] for m in summary["months"]] == [LAST_MONTH]
    assert summary["months"][0]["total_cents"] == 7000 and len(summary["months"][0]["entries"]) == 2
    assert {e["kind"] for e in summary["months"][0]["entries"]} == {"payment"}
    referred = api.get("/commission/accounts").json["data"]
    assert sorted(r["commission_cents"] for r in referred) == [3000, 4000]
    assert sorted(r["paid_cents"] for r in referred) == [15000, 20000]
    assert api.get("/commission/payouts").json == {"data": []}
    commission.pay_month(agency.id, LAST_MONTH)  # what the monthly payout operation runs
    payouts = api.get("/commission/payouts").json["data"]
    payout = db.session.scalar(sa.select(Payout))
    assert [(p["id"], p["month"], p["amount_cents"], p["status"]) for p in payouts] == \
        [(payout.id, LAST_MONTH, 7000, "paid")]
    assert payouts[0]["reference"] == payout.reference and payouts[0]["paid_at"]
    assert api.get("/commission").json["next_payout"]["payout"]["id"] == payout.id


def test_the_paypal_email_is_set_with_the_services_check(client, db):
    agency, owner = make_agency(email="comm-set@agency.test")
    api = Api(client, new_token(owner))
    done = _patch(api, {"paypal_email": "  payouts@agency.test "})
    assert done.status_code == 200 and done.json == {"paypal_email": "payouts@agency.test"}
    assert db.session.get(Agency, agency.id).paypal_email == "payouts@agency.test"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "commission_paypal_email_set")) == 1
    for payload, field in (({"paypal_email": "not an e-mail"}, "paypal_email"), ({}, "paypal_email"),
                           ({"paypal_email": 7}, "paypal_email"), ({"paypal_email": "a@b.test", "x": 1}, "x")):
        error = error_of(_patch(api, payload), 422, "validation_failed")
        assert field in error["fields"], (payload, error)
    db.session.expire_all()
    assert db.session.get(Agency, agency.id).paypal_email == "payouts@agency.test"


def test_each_agency_sees_its_own_commission_only(client, db, app):
    agency, owner = make_agency(email="comm-mine@agency.test")
    rival, rival_owner = make_agency("Rival", email="comm-rival@agency.test")
    earn(db, rival, 9000, LAST_MONTH)
    api = Api(client, new_token(owner))
    assert api.get("/commission/accounts").json == {"data": []}
    assert api.get("/commission").json["unpaid_cents"] == 0
    assert api.get("/commission").json["months"] == []
    _patch(api, {"paypal_email": "mine@agency.test"})
    assert db.session.get(Agency, rival.id).paypal_email is None


def test_roles_and_a_read_token(client, db, app):
    agency, owner = make_agency(email="comm-roles@agency.test")
    member = Api(app.test_client(), new_token(make_member(agency, "member")))
    assert member.get("/commission").status_code == 200  # the tab is everyone's
    error_of(_patch(member, {"paypal_email": "member@agency.test"}), 403, "forbidden")  # billing only
    biller = Api(app.test_client(), new_token(make_member(agency, "billing")))
    assert _patch(biller, {"paypal_email": "billing@agency.test"}).status_code == 200
    reader = Api(app.test_client(), api_tokens.create(owner, "reader", ACTOR, scope="read")[1])
    assert reader.get("/commission/payouts").status_code == 200
    error_of(_patch(reader, {"paypal_email": "reader@agency.test"}), 403, "insufficient_scope")
    db.session.expire_all()
    assert db.session.get(Agency, agency.id).paypal_email == "billing@agency.test"
