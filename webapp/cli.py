"""`flask --app webapp ...` commands."""
from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask, current_app

from .services.errors import ServiceError


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database already has agencies.")
    def seed_demo(if_empty):
        """One agency with 60 hosted accounts, a support user and a parent account with 3 automations."""
        from .extensions import db
        from .models import Agency
        from .services import demo, hosts
        if db.session.scalar(sa.select(sa.func.count(Agency.id))):
            if if_empty:
                click.echo("Demo data: the database already has data; nothing seeded.")
                _print_logins(demo, hosts)
                return
            raise click.ClickException("the database already has agencies; seed-demo runs on a new database")
        result = demo.seed()
        queue = current_app.extensions["job_queue"]
        if queue.embedded:
            queue.drain()  # this process's in-memory queue ends with it: deliver the notices now
        click.echo(f"Seeded {len(result['accounts'])} hosted accounts for {result['agency'].name} "
                   f"({len(result['queued'])} left provisioning in the background).")
        _print_logins(demo, hosts)

    @app.cli.command("create-api-token")
    @click.argument("email")
    @click.option("--name", default="Command line", show_default=True, help="A name to tell the token apart.")
    def create_api_token(email, name):
        """Print a new Agency API token for the agency of the user with this e-mail (S2)."""
        from .extensions import db
        from .models import User
        from .services import api_tokens, audit
        user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
        if user is None or not user.is_agency_user:
            raise click.ClickException(f"no agency user has the e-mail {email}")
        try:
            token, raw = api_tokens.create(user, name, audit.Actor("cli", f"flask create-api-token ({user.email})",
                                                                   None, user.agency_id))
        except ServiceError as exc:
            raise click.ClickException(" ".join([exc.message, *exc.fields.values()])) from None
        click.echo(raw)
        click.echo(f"Token {token.prefix}… “{token.name}” for {user.agency.name}. It is shown only now: keep it "
                   "somewhere safe.", err=True)

    @app.cli.command("sweep")
    def sweep():
        """One sweeper pass: re-enqueue lost operations and run the periodic tasks."""
        from .jobs import sweeper
        click.echo(f"re-enqueued {sweeper.sweep()} operation(s)")


def _print_logins(demo, hosts) -> None:
    from .extensions import db
    from .models import HostedAccount
    click.echo("")
    click.echo(f"  Dashboard:      {hosts.dashboard_url('/login')}")
    click.echo(f"  Agency user:    {demo.AGENCY_EMAIL} / {demo.AGENCY_PASSWORD}  (Owner)")
    click.echo(f"  Team member:    {demo.MEMBER_EMAIL} / {demo.MEMBER_PASSWORD}  (Member: no billing, team or API)")
    click.echo(f"  Support staff:  {demo.SUPPORT_EMAIL} / {demo.SUPPORT_PASSWORD}")
    acme = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == demo.CLIENT_ACCOUNT))
    if acme is not None:
        click.echo(f"  Hosted account: {hosts.account_login_url(acme)}  admin / {demo.CLIENT_PASSWORD}")
    click.echo("")
