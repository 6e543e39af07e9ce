"""The Agency API's transfer-in and detach requests (X1 over A3, A4): asked through the same service as the
dashboard, and read back with where each stands."""
from __future__ import annotations

import re

import sqlalchemy as sa

from webapp.models import OutboundEmail, SupportRequest
from webapp.services import api_tokens, support
from webapp.services.audit import Actor

from .helpers import make_account, make_agency, make_member, make_support
from .test_api import ACTOR, error_of, new_token
from .test_api_branding import RestApi


def _agency(client, email="owner@agency.test", name="Acme Agency"):
    agency, owner = make_agency(name, email=email)
    return agency, owner, RestApi(client, new_token(owner))


def _decide(request_id, approve=True, reason=""):
    staff = make_support(email=f"staff{request_id}@agencyhq.test")
    return support.decide(request_id, approve=approve, reason=reason, staff=staff,
                          actor=Actor(f"user:{staff.id}", staff.email))


def test_a_transfer_in_is_asked_confirmed_approved_and_read_through_the_api(client, db):
    agency, owner, api = _agency(client)
    previous, _ = make_agency("Previous", email="previous@agency.test")
    moving = make_account(previous, "moving-shop", admin_password="moving-pass-1", client_email="boss@moving.test")
    asked = api.post("/transfers", json={"account_name": "Moving-Shop", "admin_email": "BOSS@moving.test"})
    assert asked.status_code == 201, asked.json
    ghost = api.post("/transfers", json={"account_name": "ghost", "admin_email": "a@b.test"})
    # The same answer whether or not the address and e-mail matched an account (no enumeration).
    for answer, name, email in ((asked.json, "moving-shop", "boss@moving.test"), (ghost.json, "ghost", "a@b.test")):
        assert (answer["kind"], answer["status"], answer["account_id"]) == ("transfer", "awaiting_client", None)
        assert (answer["account_name"], answer["admin_email"], answer["client_email"]) == (name, email, None)
        assert set(answer) == set(asked.json)
    # The account's admin confirms from the e-mailed link (the client's step: no API twin), support approves.
    email = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "transfer_confirm"))
    assert email.to_address == "boss@moving.test"
    support.confirm_transfer(re.search(r"/transfer/confirm/(\S+)", email.body_text).group(1))
    confirmed = api.get(f"/transfers/{asked.json['id']}").json
    assert confirmed["status"] == "open" and confirmed["confirmed_at"] and confirmed["account_id"] is None
    _decide(asked.json["id"])
    done = api.get(f"/transfers/{asked.json['id']}").json
    assert done["status"] == "approved" and done["account_id"] == moving.id and done["handled_at"]
    assert api.get(f"/accounts/{moving.id}").json["name"] == "moving-shop"  # now the agency's
    assert api.get(f"/transfers/{ghost.json['id']}").json["status"] == "awaiting_client"


def test_a_detach_is_asked_once_and_read_back(client, db):
    agency, owner, api = _agency(client)
    staying = make_account(agency, "staying")
    asked = api.post(f"/accounts/{staying.id}/detach", json={"client_email": "Owner@Staying.test"})
    assert asked.status_code == 201, asked.json
    assert {k: asked.json[k] for k in ("kind", "status", "account_id", "account_name", "client_email")} == {
        "kind": "detach", "status": "open", "account_id": staying.id, "account_name": "staying",
        "client_email": "owner@staying.test"}
    error_of(api.post(f"/accounts/{staying.id}/detach", json={"client_email": "owner@staying.test"}), 409,
             "conflict")
    _decide(asked.json["id"], approve=False, reason="Remove your branding first.")
    rejected = api.get(f"/transfers/{asked.json['id']}").json
    assert rejected["status"] == "rejected" and rejected["decision_reason"] == "Remove your branding first."
    again = api.post(f"/accounts/{staying.id}/detach", json={"client_email": "owner@staying.test"})
    assert again.status_code == 201
    _decide(again.json["id"])
    done = api.get(f"/transfers/{again.json['id']}").json
    assert done["status"] == "approved" and done["account_id"] == staying.id and done["account_name"] == "staying"
    error_of(api.get(f"/accounts/{staying.id}"), 404)  # the client's own now


def test_the_requests_are_listed_filtered_and_paged(client, db):
    agency, owner, api = _agency(client)
    accounts = [make_account(agency, f"shop-{i}") for i in range(2)]
    for account in accounts:
        api.post(f"/accounts/{account.id}/detach", json={"client_email": f"{account.name}@client.test"})
    api.post("/transfers", json={"account_name": "ghost", "admin_email": "a@b.test"})
    listed = api.get("/transfers").json
    assert listed["total"] == 3 and listed["next_cursor"] is None
    assert [r["kind"] for r in listed["data"]] == ["transfer", "detach", "detach"]  # newest first
    assert [r["account_name"] for r in api.get("/transfers?kind=detach").json["data"]] == ["shop-1", "shop-0"]
    assert api.get("/transfers?status=awaiting_client").json["total"] == 1
    first = api.get("/transfers?limit=2").json
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = api.get(f"/transfers?limit=2&cursor={first['next_cursor']}").json
    assert [r["id"] for r in rest["data"]] == [listed["data"][2]["id"]] and rest["next_cursor"] is None
    assert "cursor" in error_of(api.get(f"/transfers?limit=1&cursor={first['next_cursor']}"), 422)["fields"]
    assert "kind" in error_of(api.get("/transfers?kind=trial_extension"), 422)["fields"]
    # Another agency's requests are not listed, nor found; nor are other kinds of request.
    rival, rival_owner = make_agency("Rival", email="rival@agency.test")
    theirs = support.request_transfer(rival.id, rival_owner, account_name="x", admin_email="x@y.test",
                                      actor=Actor("user:1", "tests", None, rival.id, team_role="owner"))
    other_kind = SupportRequest(kind="trial_extension", status="open", agency_id=agency.id, subject="More days",
                                payload={"days": 14})
    db.session.add(other_kind)
    db.session.commit()
    error_of(api.get(f"/transfers/{theirs.id}"), 404)
    error_of(api.get(f"/transfers/{other_kind.id}"), 404)
    assert api.get("/transfers").json["total"] == 3


def test_bad_input_another_agency_and_roles(app, client, db):
    agency, owner, api = _agency(client)
    account = make_account(agency, "shop")
    assert "admin_email" in error_of(api.post("/transfers", json={"account_name": "x", "admin_email": "nope"}),
                                     422)["fields"]
    assert "account_name" in error_of(api.post("/transfers", json={"account_name": "", "admin_email": "a@b.test"}),
                                      422)["fields"]
    assert "admin_email" in error_of(api.post("/transfers", json={"account_name": "x"}), 422)["fields"]
    own = error_of(api.post("/transfers", json={"account_name": "shop", "admin_email": "a@b.test"}), 422)
    assert "already one of your accounts" in own["fields"]["account_name"]
    assert "client_email" in error_of(api.post(f"/accounts/{account.id}/detach", json={"client_email": "x"}),
                                      422)["fields"]
    rival_account = make_account(make_agency("Rival", email="rival@agency.test")[0], "rival-shop")
    error_of(api.post(f"/accounts/{rival_account.id}/detach", json={"client_email": "a@b.test"}), 404)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SupportRequest)) == 0
    reader = RestApi(app.test_client(), api_tokens.create(owner, "reader", ACTOR, scope="read")[1])
    error_of(reader.post("/transfers", json={"account_name": "x", "admin_email": "a@b.test"}), 403,
             "insufficient_scope")
    error_of(reader.post(f"/accounts/{account.id}/detach", json={"client_email": "a@b.test"}), 403,
             "insufficient_scope")
    billing_member = RestApi(client, new_token(make_member(agency, "billing")))
    error_of(billing_member.post("/transfers", json={"account_name": "x", "admin_email": "a@b.test"}), 403,
             "forbidden")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SupportRequest)) == 0
    assert reader.get("/transfers").json["total"] == 0
    assert billing_member.get("/transfers").status_code == 200
