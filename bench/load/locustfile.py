"""Locust journeys for `bench/load/run.py` (issue 10): agency users and hosted-account admins.

Reads the seeded ids from LOAD_FIXTURE (a JSON file run.py writes). Requests are named by what they
are, so the statistics show, say, "resold fragment" as one line."""
from __future__ import annotations

import json
import os
import random
import re
import time
import uuid

from locust import HttpUser, between, task

FIXTURE = json.load(open(os.environ["LOAD_FIXTURE"]))
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def csrf(html: str) -> str:
    match = CSRF.search(html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    return match.group(1) if match else ""


class AgencyUser(HttpUser):
    weight = 4
    wait_time = between(0.5, 2)

    def on_start(self):
        self.client.headers["Host"] = f"localhost:{FIXTURE['port']}"  # the dashboard's host
        page = self.client.get("/login", name="login page")
        if page.status_code != 200:
            return  # a dropped connection (a web process killed): nothing to post
        self.client.post("/login", name="login", data={"csrf_token": csrf(page.text), "email": FIXTURE["email"],
                                                       "password": FIXTURE["password"]})
        home = self.client.get("/", name="resold page")
        self.token = csrf(home.text) if home.status_code == 200 else ""

    @task(8)
    def resold_fragment(self):
        params = {"sort": random.choice(["name", "plan_size", "created", "expires"]),
                  "order": random.choice(["asc", "desc"]), "status": random.choice(["active", "expired", "all"])}
        if random.random() < 0.4:
            params["q"] = random.choice(["load", "client 1", "acct-1", "example", "zzz"])
        if random.random() < 0.3:
            params["plan_type"] = random.choice(["trial", "monthly", "annual"])
        if random.random() < 0.3:
            params["page"] = random.randint(1, 20)
        self.client.get("/", params=params, headers={"HX-Request": "true"}, name="resold fragment")

    @task(2)
    def open_account(self):
        self.client.get(f"/accounts/{random.choice(FIXTURE['account_ids'])}", name="account page")

    @task(1)
    def add_new_trial(self):
        response = self.client.get("/accounts/new", name="add new form")
        if response.status_code != 200:
            return
        form = response.text
        key = re.search(r'name="request_key" type="hidden" value="([^"]*)"', form)
        name = f"load-{uuid.uuid4().hex[:10]}"
        done = self.client.post("/accounts/new", name="add new", data={
            "csrf_token": csrf(form), "request_key": key.group(1) if key else "", "name": name,
            "client_name": "Load Client", "client_email": f"{name}@example.test",
            "notification_email": FIXTURE["email"], "language": "en", "timezone": "UTC", "tier": "plus",
            "term": "trial", "contact_limit": str(FIXTURE["trial_limit"])})
        match = re.search(r"/accounts/(\d+)", done.url)
        if not match:
            return
        deadline = time.time() + 30
        while time.time() < deadline:
            progress = self.client.get(f"/accounts/{match.group(1)}/progress", headers={"HX-Request": "true"},
                                       name="add new progress")
            if 'id="credentials"' in progress.text or "Active" in progress.text:
                break
            time.sleep(1)

    @task(1)
    def buy_sms(self):
        response = self.client.get("/billing/sms", name="sms page")
        if response.status_code != 200:
            return
        page = response.text
        packs = re.findall(r'<option (?:selected )?value="([^"]+)"', page)
        if packs:
            self.client.post("/billing/sms", name="buy sms", data={
                "csrf_token": csrf(page), "account": random.choice(FIXTURE["account_names"]), "pack": packs[0]})

    @task(1)
    def publish_pushdown(self):
        if random.random() > 0.2 or not self.token:
            return
        page = self.client.post("/automations/new", name="pushdown new", data={
            "csrf_token": self.token, "automation_id": FIXTURE["automation_id"]})
        match = re.search(r"/automations/(\d+)/edit", page.url)
        if not match:
            return
        pid = match.group(1)
        self.client.post(f"/automations/{pid}/accounts", name="pushdown select", headers={"HX-Request": "true",
                         "X-CSRFToken": self.token}, data={"q": f"acct-{random.randint(1, 9)}", "action": "add_matching"})
        self.client.post(f"/automations/{pid}/publish", name="pushdown publish", data={
            "csrf_token": self.token, "activation": "on_push", "submit": "now"})


class AccountAdmin(HttpUser):
    weight = 1
    wait_time = between(0.5, 2)

    def on_start(self):
        self.account = random.choice(FIXTURE["admins"])
        self.host_header = f"{self.account}.localhost:{FIXTURE['port']}"
        for attempt in range(random.randint(0, 2)):  # a few wrong passwords first (under the lockout)
            self._login("wrong-password-" + str(attempt))
        self._login(FIXTURE["admin_password"])

    def _login(self, password):
        page = self.client.get("/app/login", headers={"Host": self.host_header}, name="client login page")
        if page.status_code != 200:
            return
        with self.client.post("/app/login", headers={"Host": self.host_header}, name="client login",
                              data={"csrf_token": csrf(page.text), "username": "admin", "password": password},
                              catch_response=True) as response:
            if response.status_code in (401, 429):  # a wrong password, or the per-address throttle: expected
                response.success()

    @task(3)
    def templates(self):
        self.client.get("/app/templates", headers={"Host": self.host_header}, name="client templates")

    @task(2)
    def automations(self):
        self.client.get("/app/automations", headers={"Host": self.host_header}, name="client automations")

    @task(1)
    def overview(self):
        self.client.get("/app/", headers={"Host": self.host_header}, name="client overview")
