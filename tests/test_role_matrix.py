"""Issue 19: the role x endpoint matrix, generated from the URL map. Every dashboard view that names a
permission (permission_required keeps it on the view) and every API endpoint, for each role in the team:
allowed -> not 403 (and no server error), denied -> 403; and another agency's ids -> 404."""
from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from webapp.models import AbuseReport, Invoice, Pushdown, UserLink
from webapp.services import (api_tokens, billing, links, permissions, provisioning, pushdown, support, templates,
                             webhooks)
from webapp.services.audit import Actor
from webapp.services.scope import AgencyScope

from .helpers import agency_actor, email_step, login, make_account, make_agency, make_member

SYSTEM = Actor("system", "tests")
# Endpoints whose answer for an allowed role is not about the role: logging out ends the test's login.
SKIP = {"auth.logout"}


def _agency_with_everything(db, name: str, owner_email: str):
    """An agency with one of each thing a URL can name, and a member of each role."""
    agency, owner = make_agency(name, email=owner_email)
    agency.franchise_enabled = True
    db.session.commit()
    users = {"owner": owner}
    for role in ("admin", "billing", "member"):
        users[role] = make_member(agency, role, email=f"{role}@{name.lower()}.test")
    target = make_member(agency, "member", email=f"target@{name.lower()}.test")  # what team URLs act on
    account = make_account(agency, f"{name.lower()}-shop")
    make_account(agency, f"{name.lower()}-parent", kind="parent")
    billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=date.today().year + 1, cvc="123", actor=SYSTEM)
    billing.buy_prepaid(agency.id, billing.get_catalog().prepaid_amounts_cents[0], account=None, actor=SYSTEM)
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.agency_id == agency.id))
    template = templates.add_basic(agency.id, templates.TemplateInput("Welcome", "", "<p>Hi</p>"), SYSTEM)
    automation = pushdown.save_automation(agency.id, None, pushdown.AutomationInput(
        "Welcome", "subscribes", "News", [email_step(agency)]), SYSTEM)
    row = pushdown.create_draft(agency.id, [automation.id], SYSTEM)
    tokens = {role: api_tokens.create(user, f"{role} token", SYSTEM)[1] for role, user in users.items()}
    spare_token = api_tokens.create(owner, "spare", SYSTEM)[0]
    operation = provisioning.submit(account)
    invite, _raw = links.issue("invite", agency_id=agency.id, email=f"invited@{name.lower()}.test", team_role="member")
    report = AbuseReport(agency_id=agency.id, account_id=account.id, kind="abuse", severity="low",
                         description="Spam", evidence="Complaints")
    db.session.add(report)
    db.session.commit()
    hook, _secret = webhooks.create_endpoint(AgencyScope(agency.id), url="https://93.184.216.34/hook",
                                             events=["invoice.paid"], description="", actor=SYSTEM)
    delivery = webhooks.send_test(AgencyScope(agency.id), hook.id, actor=SYSTEM)
    leaving = make_account(agency, f"{name.lower()}-leaving")
    detach = support.request_detach(leaving, owner, client_email=f"boss@{name.lower()}-leaving.test",
                                    actor=agency_actor(owner))
    ids = {"endpoint_id": hook.id, "delivery_id": delivery.id, "event_id": delivery.event.public_id,
           "request_id": detach.id,
           "account_id": account.id, "invoice_id": invoice.id, "template_id": template.id,
           "automation_id": automation.id, "pushdown_id": row.id, "token_id": spare_token.id,
           "user_id": target.id, "link_id": invite.id, "operation_id": operation.id,
           "report_id": report.id}
    return {"agency": agency, "users": users, "ids": ids, "tokens": tokens}


def _url(rule, ids: dict) -> str:
    values = {arg: ids[arg] for arg in rule.arguments if arg in ids}
    missing = set(rule.arguments) - set(values) - set(rule.defaults or {})
    assert not missing, f"{rule.endpoint}: no test value for {missing}"
    path = rule.rule
    for arg, value in values.items():
        path = re.sub(rf"<(?:\w+:)?{arg}>", str(value), path)
    return path


def _dashboard_rules(app):
    rules = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        permission = getattr(view, "permission", None)
        if permission and not rule.endpoint.startswith("api.") and rule.endpoint not in SKIP:
            method = "GET" if "GET" in rule.methods else "POST"
            rules.append((rule, permission, method))
    return sorted(rules, key=lambda r: (r[0].rule, r[2]))


def _api_rules(app):
    rules = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi_json":
            view = app.view_functions[rule.endpoint]
            for method in ("GET", "PATCH", "POST", "DELETE"):
                if method in rule.methods:
                    rules.append((rule, view.permission, method))
    return sorted(rules, key=lambda r: (r[0].rule, r[2]))


def test_every_dashboard_area_view_and_every_api_endpoint_names_a_permission(app):
    """A new view of an agency area cannot forget its permission: the matrix would not see it."""
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        area = rule.endpoint.split(".")[0]
        if rule.endpoint.startswith("api."):
            assert rule.endpoint == "api.openapi_json" or getattr(view, "permission", None), rule.endpoint
        elif area in {"billing", "whitelabel", "pushdown", "api_tokens", "resold", "reports"}:
            assert getattr(view, "permission", None), rule.endpoint
        elif area in {"accounts", "team", "commission"} and rule.endpoint not in {
                "accounts.confirm_transfer", "team.accept", "commission.referral", "commission.referral_signup",
                "commission.welcome"}:
            assert getattr(view, "permission", None), rule.endpoint
        elif rule.endpoint in {"myaccount.notices", "myaccount.save_notices"}:  # agency settings under My account
            assert getattr(view, "permission", None), rule.endpoint


@pytest.mark.parametrize("role", permissions.ROLES)
def test_dashboard_matrix(app, client, db, monkeypatch, role):
    mine = _agency_with_everything(db, "Mine", "owner@mine.test")
    theirs = _agency_with_everything(db, "Theirs", "owner@theirs.test")
    user = mine["users"][role]
    assert login(client, user.email).status_code == 303
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)  # the role is what is tested, not the form
    problems = []
    for rule, permission, method in _dashboard_rules(app):
        allowed = permissions.allows(role, permission)
        response = client.open(_url(rule, mine["ids"]), method=method)
        if allowed and (response.status_code == 403 or response.status_code >= 500):
            problems.append(f"{role} {method} {rule.rule} ({permission}): {response.status_code}, expected allowed")
        if not allowed and response.status_code != 403:
            problems.append(f"{role} {method} {rule.rule} ({permission}): {response.status_code}, expected 403")
        if allowed and set(rule.arguments) - set(rule.defaults or {}):
            foreign = client.open(_url(rule, theirs["ids"]), method=method)
            if foreign.status_code != 404:
                problems.append(f"{role} {method} {rule.rule} with another agency's ids: {foreign.status_code}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", permissions.ROLES)
def test_api_matrix(app, client, db, monkeypatch, role):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", 100_000)  # every endpoint, twice: the role is tested
    mine = _agency_with_everything(db, "Mine", "owner@mine.test")
    theirs = _agency_with_everything(db, "Theirs", "owner@theirs.test")
    headers = {"Authorization": f"Bearer {mine['tokens'][role]}", "Content-Type": "application/json"}
    problems = []
    for rule, permission, method in _api_rules(app):
        allowed = permissions.allows(role, permission)
        response = client.open(_url(rule, mine["ids"]), method=method, headers=headers,
                               data="{}" if method in ("POST", "PATCH") else None)
        body = response.get_json(silent=True) or {}
        if allowed and (response.status_code == 403 or response.status_code >= 500):
            problems.append(f"{role} {method} {rule.rule} ({permission}): {response.status_code} {body}")
        if not allowed and (response.status_code != 403 or body.get("error", {}).get("code") != "forbidden"):
            problems.append(f"{role} {method} {rule.rule} ({permission}): {response.status_code}, expected 403")
        if allowed and rule.arguments:
            foreign = client.open(_url(rule, theirs["ids"]), method=method, headers=headers,
                                  data="{}" if method in ("POST", "PATCH") else None)
            if foreign.status_code != 404:
                problems.append(f"{role} {method} {rule.rule} with another agency's ids: {foreign.status_code}")
    assert not problems, "\n".join(problems)


def test_the_matrix_covers_the_agencys_notification_settings(app):
    """Everyone in the team reads them; only an Owner or an Admin saves them (issue 21)."""
    rules = {(rule.rule, method): permission for rule, permission, method in _dashboard_rules(app)}
    assert rules[("/my-account/notices", "GET")] == "view"
    assert rules[("/my-account/notices", "POST")] == "notices"
    assert {role for role in permissions.ROLES if permissions.allows(role, "notices")} == {"owner", "admin"}


def test_a_member_posting_to_billing_urls_gets_403_and_nothing_is_written(app, client, db):
    agency, owner = make_agency(email="owner@agency.test")
    member = make_member(agency, "member", email="mia@agency.test")
    account = make_account(agency, "shop")
    login(client, "mia@agency.test")
    page = client.get("/my-account").get_data(as_text=True)
    from .helpers import csrf_token
    token = csrf_token(page)
    before_invoices = db.session.scalar(sa.select(sa.func.count()).select_from(Invoice))
    for url, data in [("/billing/profile", {"number": "4242424242424242", "exp_month": "12", "exp_year": "2099",
                                            "cvc": "123"}),
                      ("/billing/prepaid", {"amount": "5000"}),
                      ("/billing/sms", {"account": "shop", "pack": "sms-1000"}),
                      (f"/accounts/{account.id}/plan", {"plan-tier": "professional", "plan-term": "monthly",
                                                        "plan-contact_limit": "1000"})]:
        response = client.post(url, data={"csrf_token": token, **data})
        assert response.status_code == 403, url
        assert "Your role in the team does not let you" in response.get_data(as_text=True)
    assert billing.card_of(agency.id) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == before_invoices
    db.session.expire_all()
    assert db.session.get(type(account), account.id).plan_tier == "plus"


def test_services_refuse_what_the_role_may_not_do_whoever_calls(app, db):
    """The rule is in the services: a job or a future caller gets the same 403 as the dashboard."""
    from webapp.services import accounts
    from webapp.services.errors import Forbidden
    agency, owner = make_agency(email="owner@agency.test")
    billing_user = make_member(agency, "billing")
    member = make_member(agency, "member")
    account = make_account(agency, "shop")
    trial = accounts.NewAccount(name="trial-one", custom_domain="", client_name="C", client_email="c@example.test",
                                notification_email="n@example.test", language="en", timezone="UTC", tier="plus",
                                term="trial", contact_limit="1000")
    with pytest.raises(Forbidden):
        accounts.create(agency.id, trial, request_key="k1", actor=agency_actor(billing_user))  # trials: manage_accounts
    paid = accounts.NewAccount(**{**trial.__dict__, "name": "paid-one", "term": "monthly"})
    with pytest.raises(Forbidden):
        accounts.create(agency.id, paid, request_key="k2", actor=agency_actor(member))  # paid: charge
    with pytest.raises(Forbidden):
        accounts.cancel(account, agency_actor(billing_user))
    with pytest.raises(Forbidden):
        billing.buy_prepaid(agency.id, 5000, account=None, actor=agency_actor(member))
    with pytest.raises(Forbidden):
        api_tokens.create(member, "nope", agency_actor(member))
    # A token acts with its creator's role, never more: an Owner's token after the Owner became a Member.
    token, raw = api_tokens.create(owner, "mine", agency_actor(owner))
    owner.team_role = "member"
    db.session.commit()
    with pytest.raises(Forbidden):
        billing.buy_prepaid(agency.id, 5000, account=None, actor=api_tokens.actor_for(token, None))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Pushdown)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserLink)) == 0


def test_through_the_api_a_members_token_adds_trials_but_not_paid_accounts(app, client, db):
    from webapp.models import HostedAccount
    from .test_api import NEW, TRIAL
    agency, owner = make_agency(email="owner@agency.test")
    billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=date.today().year + 1, cvc="123",
                      actor=SYSTEM)
    member = make_member(agency, "member")
    billing_user = make_member(agency, "billing")
    headers = lambda user: {"Authorization": f"Bearer {api_tokens.create(user, 'm', SYSTEM)[1]}"}  # noqa: E731
    paid = client.post("/api/v1/accounts", json=NEW, headers=headers(member))
    assert paid.status_code == 403 and "charge the agency's card" in paid.get_json()["error"]["message"]
    trial_by_billing = client.post("/api/v1/accounts", json=TRIAL, headers=headers(billing_user))
    assert trial_by_billing.status_code == 403 and trial_by_billing.get_json()["error"]["code"] == "forbidden"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0
    assert client.post("/api/v1/accounts", json=TRIAL, headers=headers(member)).status_code == 202


def test_the_resold_rows_offer_only_what_the_role_may_do(app, db):
    from datetime import timedelta
    agency, owner = make_agency(email="owner@agency.test")
    make_member(agency, "billing", email="bill@agency.test")
    make_member(agency, "member", email="mia@agency.test")
    active = make_account(agency, "live-shop")
    make_account(agency, "old-shop", status="expired", period_end=date.today() - timedelta(days=3))
    pages, menus = {}, {}
    for email in ("owner@agency.test", "bill@agency.test", "mia@agency.test"):
        client = app.test_client()
        login(client, email)
        pages[email] = client.get("/?status=all").get_data(as_text=True)
        # A row's ⋯ menu, as the row fetches it when it opens (issue 25).
        menus[email] = client.get(f"/accounts/{active.id}/menu", headers={"HX-Request": "true"}).get_data(as_text=True)
    login_button = f'formaction="/accounts/{active.id}/login-as"'
    assert login_button in pages["owner@agency.test"] and ">Renew<" in pages["owner@agency.test"]
    assert login_button not in pages["bill@agency.test"] and ">Renew<" in pages["bill@agency.test"]
    assert login_button in pages["mia@agency.test"] and ">Renew<" not in pages["mia@agency.test"]
    assert "White-label settings" not in menus["bill@agency.test"] and ">Change<" in menus["bill@agency.test"]
    assert "White-label settings" in menus["owner@agency.test"] and ">Change<" in menus["owner@agency.test"]
    assert "White-label settings" in menus["mia@agency.test"] and ">Change<" not in menus["mia@agency.test"]


def test_a_read_token_changes_nothing_through_any_endpoint(app, client, db, monkeypatch):
    """Issue 24: a token of scope `read` is refused every POST, PATCH and DELETE of the API (403
    insufficient_scope), whatever its creator's role; its GETs work."""
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", 100_000)
    mine = _agency_with_everything(db, "Mine", "owner@mine.test")
    _token, raw = api_tokens.create(mine["users"]["owner"], "read only", SYSTEM, scope="read")
    headers = {"Authorization": f"Bearer {raw}", "Content-Type": "application/json"}
    problems, writes = [], 0
    for rule, _permission, method in _api_rules(app):
        response = client.open(_url(rule, mine["ids"]), method=method, headers=headers,
                               data="{}" if method in ("POST", "PATCH") else None)
        answer = response.get_json(silent=True)
        code = ((answer.get("error") if isinstance(answer, dict) else None) or {}).get("code")
        if method != "GET":
            writes += 1
            if response.status_code != 403 or code != "insufficient_scope":
                problems.append(f"{method} {rule.rule}: {response.status_code} {code}")
        elif response.status_code in (401, 403) or response.status_code >= 500:
            problems.append(f"{method} {rule.rule}: {response.status_code} {code}")
    assert writes > 50 and not problems, "\n".join(problems)
