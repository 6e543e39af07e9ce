"""Locust journeys for `bench/load/run.py` (issue 10): agency users, hosted-account admins, support
staff and Agency API clients.

Reads the seeded ids from LOAD_FIXTURE (a JSON file run.py writes). Requests are named by what they
are, so the statistics show, say, "resold fragment" as one line. The users are FastHttpUser
(geventhttpclient): the load generator shares this machine's two cores with the stack it measures,
so the cheaper client leaves more of them to the app."""
from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
import uuid
from urllib.parse import urlencode

from locust import FastHttpUser, between, events, task

FIXTURE = json.load(open(os.environ["LOAD_FIXTURE"]))
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
DASHBOARD = f"localhost:{FIXTURE['port']}"
# LOAD_PACE=human: a person acts every few seconds (reads the page, then clicks); stress: as fast as a
# person can click, to find where the machine saturates. Both are reported by run.py.
HUMAN = os.environ.get("LOAD_PACE", "human") == "human"


# Every request's time (and when the last user started), for run.py to read the latencies of any window:
# locust's own table covers the whole run, ramp-up included.
if os.environ.get("LOAD_SAMPLES"):
    _samples = open(os.environ["LOAD_SAMPLES"], "w", buffering=1 << 16)

    @events.request.add_listener
    def _sample(request_type, name, response_time, response_length, exception=None, **_kw):
        _samples.write(f"{time.time():.3f}\t{name}\t{response_time:.1f}\t{0 if exception else 1}\n")

    @events.spawning_complete.add_listener
    def _all_started(user_count, **_kw):
        _samples.write(f"{time.time():.3f}\t__all_users_started__\t{user_count}\t1\n")

    @events.quitting.add_listener
    def _close(**_kw):
        _samples.close()


def pace(human: tuple[float, float], stress: tuple[float, float]):
    return between(*(human if HUMAN else stress))


def csrf(html: str) -> str:
    match = CSRF.search(html or "") or re.search(r'"X-CSRFToken": "([^"]+)"', html or "")
    return match.group(1) if match else ""


_admins = itertools.count()


def client_address() -> str:
    """Each simulated person comes from an address of their own, as they would through the proxy in front
    of the app (run.py sets TRUSTED_PROXIES=1): the login throttles count failures per address, and
    from one loopback address every user's wrong passwords would lock all the others out."""
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def location_id(response, pattern: str) -> str | None:
    """The id in a redirect's Location (requests are sent without following redirects)."""
    match = re.search(pattern, (response.headers or {}).get("Location") or "")
    return match.group(1) if match else None


class DashboardUser(FastHttpUser):
    abstract = True
    email = password = ""

    def get(self, path, name, htmx=False, **kwargs):
        headers = {"Host": DASHBOARD, "X-Forwarded-For": self.address, **({"HX-Request": "true"} if htmx else {}),
                   **kwargs.pop("headers", {})}
        return self.client.get(path, name=name, headers=headers, **kwargs)

    def post(self, path, name, data, htmx=False, follow=False, **kwargs):
        headers = {"Host": DASHBOARD, "X-Forwarded-For": self.address, "Content-Type": "application/x-www-form-urlencoded",
                   **({"HX-Request": "true", "X-CSRFToken": self.token} if htmx else {})}
        return self.client.post(path, name=name, data=urlencode(data, doseq=True), headers=headers,
                                allow_redirects=follow, **kwargs)

    def on_start(self):
        self.token, self.address = "", client_address()
        page = self.get("/login", "login page")
        if page.status_code != 200:
            return  # a dropped connection (a web process killed): nothing to post
        self.post("/login", "login", {"csrf_token": csrf(page.text), "email": self.email, "password": self.password})
        home = self.get(self.home, "home page")
        self.token = csrf(home.text) if home.status_code == 200 else ""


class AgencyUser(DashboardUser):
    """Browses, searches, filters, sorts and pages the Resold tab; opens accounts; adds trials and waits
    for their credentials; buys SMS credits; sometimes publishes a pushdown to ~50 accounts."""
    weight = 12
    wait_time = pace((2, 8), (0.5, 2))
    email, password, home = FIXTURE["email"], FIXTURE["password"], "/"

    @task(8)
    def resold_fragment(self):
        params = {"sort": random.choice(["name", "plan_size", "created", "expires"]),
                  "order": random.choice(["asc", "desc"]), "status": random.choice(["active", "expired", "all"])}
        if random.random() < 0.4:
            params["q"] = random.choice(["load", "client 1", "acct-1", "example", "zzz"])
        if random.random() < 0.3:
            params["plan"] = random.choice(["trial", "monthly", "annual"])
        if random.random() < 0.3:
            params["page"] = random.randint(1, 20)
        self.get("/", "resold fragment", htmx=True, params=params)

    @task(2)
    def open_account(self):
        self.get(f"/accounts/{random.choice(FIXTURE['account_ids'])}", "account page")

    @task(1)
    def add_new_trial(self):
        response = self.get("/accounts/new", "add new form")
        if response.status_code != 200:
            return
        form = response.text
        key = re.search(r'name="request_key" type="hidden" value="([^"]*)"', form)
        name = f"load-{uuid.uuid4().hex[:10]}"
        done = self.post("/accounts/new", "add new", {
            "csrf_token": csrf(form), "request_key": key.group(1) if key else "", "name": name,
            "client_name": "Load Client", "client_email": f"{name}@example.test",
            "notification_email": FIXTURE["email"], "language": "en", "timezone": "UTC", "tier": "plus",
            "term": "trial", "contact_limit": str(FIXTURE["trial_limit"])})
        account_id = location_id(done, r"/accounts/(\d+)")
        if not account_id:
            return
        deadline = time.time() + 30
        while time.time() < deadline:
            progress = self.get(f"/accounts/{account_id}/progress", "add new progress", htmx=True)
            if (progress.headers or {}).get("HX-Refresh") == "true":  # done: htmx reloads the page
                self.get(f"/accounts/{account_id}", "account page (credentials)")
                break
            time.sleep(1)

    @task(1)
    def buy_sms(self):
        response = self.get("/billing/sms", "sms page")
        if response.status_code != 200:
            return
        page = response.text
        packs = re.findall(r'<option (?:selected )?value="([^"]+)"', page)
        if packs:
            self.post("/billing/sms", "buy sms", {"csrf_token": csrf(page),
                                                  "account": random.choice(FIXTURE["account_names"]), "pack": packs[0]})

    @task(1)
    def publish_pushdown(self):
        if random.random() > 0.2 or not self.token:
            return
        made = self.post("/automations/new", "pushdown new", {"csrf_token": self.token,
                                                               "automation_id": FIXTURE["automation_id"]})
        pid = location_id(made, r"/automations/(\d+)/edit")
        if not pid:
            return
        self.post(f"/automations/{pid}/accounts", "pushdown select", {
            "action": "add", "account_id": random.sample(FIXTURE["account_ids"], 50)}, htmx=True)
        self.post(f"/automations/{pid}/publish", "pushdown publish", {
            "csrf_token": self.token, "activation": "on_push", "submit": "now"})


class SupportStaff(DashboardUser):
    """Searches any account, reads the audit log, and approves trial-extension requests from the queue
    (several staff at once: two may press Approve on the same request, and one must win)."""
    fixed_count = 4
    wait_time = pace((3, 10), (1, 3))
    email, password, home = FIXTURE["support_email"], FIXTURE["support_password"], "/support?kind=trial_extension"

    @task(3)
    def search(self):
        self.get("/support", "support search", params={"q": random.choice(["acct-12", "client 3", "load-", "c77@"])})

    @task(3)
    def approve(self):
        queue = self.get("/support", "support queue", params={"kind": "trial_extension"})
        ids = re.findall(r"/support/requests/(\d+)/decide", queue.text or "")
        if ids:
            self.post(f"/support/requests/{random.choice(ids[:3])}/decide", "support approve",
                      {"csrf_token": csrf(queue.text), "decision": "approve", "reason": ""})

    @task(1)
    def audit_log(self):
        self.get("/support", "support audit log", params={"action": "trial_extension_approved"})


class ApiClient(FastHttpUser):
    """An agency's script: lists accounts with the Resold tab's filters and creates trials with an
    Idempotency-Key, sometimes sending the same request again (a retry), which must answer the same."""
    weight = 2
    wait_time = pace((1, 4), (0.5, 2))

    def on_start(self):
        self.auth = {"Authorization": f"Bearer {random.choice(FIXTURE['api_tokens'])}", "Host": DASHBOARD,
                     "X-Forwarded-For": client_address()}

    @task(4)
    def list_accounts(self):
        params = {"sort": random.choice(["name", "created"]), "limit": 50,
                  **({"q": random.choice(["acct-2", "client 9"])} if random.random() < 0.5 else {})}
        self.client.get("/api/v1/accounts", params=params, headers=self.auth, name="api list accounts")

    @task(1)
    def create_trial(self):
        key, name = str(uuid.uuid4()), f"api-{uuid.uuid4().hex[:10]}"
        body = {"name": name, "client_name": "API Client", "client_email": f"{name}@example.test",
                "notification_email": FIXTURE["email"], "language": "en", "timezone": "UTC",
                "plan": {"tier": "plus", "term": "trial", "contact_limit": FIXTURE["trial_limit"]}}
        headers = {**self.auth, "Idempotency-Key": key}
        first = self.client.post("/api/v1/accounts", json=body, headers=headers, name="api create account")
        if first.status_code != 202 or random.random() > 0.3:
            return
        with self.client.post("/api/v1/accounts", json=body, headers=headers, name="api create account (retry)",
                              catch_response=True) as again:
            if again.status_code != 202 or again.json()["account"]["id"] != first.json()["account"]["id"]:
                again.failure(f"the retry answered {again.status_code}, not the first account")


class AccountAdmin(FastHttpUser):
    """A client on its own host: a few wrong passwords, then Templates, Automations and the overview."""
    weight = 4
    wait_time = pace((2, 8), (0.5, 2))

    def on_start(self):
        # Admins dealt out in turn, so that no more than two people share one (and its 5-failure lockout).
        admin = FIXTURE["admins"][next(_admins) % len(FIXTURE["admins"])]
        self.host_header = {"Host": f"{admin}.localhost:{FIXTURE['port']}", "X-Forwarded-For": client_address()}
        self.signed_in = False
        for attempt in range(random.randint(0, 2)):  # a few wrong passwords first (under the lockout)
            self._login("wrong-password-" + str(attempt))
        self._login(FIXTURE["admin_password"])

    def _login(self, password):
        page = self.client.get("/app/login", headers=self.host_header, name="client login page")
        if page.status_code != 200:
            return
        with self.client.post("/app/login", headers=self.host_header, name="client login", allow_redirects=False,
                              data={"csrf_token": csrf(page.text), "username": "admin", "password": password},
                              catch_response=True) as response:
            right = password == FIXTURE["admin_password"]
            if response.status_code == (303 if right else 401):
                self.signed_in = self.signed_in or right
                response.success()
            else:
                response.failure(f"{'the right' if right else 'a wrong'} password answered {response.status_code}")

    def _page(self, path, name):
        """A page of the signed-in admin: a redirect to the login page is a failure, not a page."""
        if not self.signed_in:  # the login's connection was cut (a web process killed): log in again
            self._login(FIXTURE["admin_password"])
            return
        with self.client.get(path, headers=self.host_header, name=name, allow_redirects=False,
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{path} answered {response.status_code}")

    @task(3)
    def templates(self):
        self._page("/app/templates", "client templates")

    @task(2)
    def automations(self):
        self._page("/app/automations", "client automations")

    @task(1)
    def overview(self):
        self._page("/app/", "client overview")
