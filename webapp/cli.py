"""`flask --app webapp ...` commands."""
from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask, current_app


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

    @app.cli.command("sweep")
    def sweep():
        """One sweeper pass: re-enqueue lost operations and run the periodic tasks."""
        from .services import operations
        click.echo(f"re-enqueued {operations.sweep()} operation(s)")


def _print_logins(demo, hosts) -> None:
    from .extensions import db
    from .models import HostedAccount
    click.echo("")
    click.echo(f"  Dashboard:      {hosts.dashboard_url('/login')}")
    click.echo(f"  Agency user:    {demo.AGENCY_EMAIL} / {demo.AGENCY_PASSWORD}")
    click.echo(f"  Support staff:  {demo.SUPPORT_EMAIL} / {demo.SUPPORT_PASSWORD}")
    acme = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == demo.CLIENT_ACCOUNT))
    if acme is not None:
        click.echo(f"  Hosted account: {hosts.account_login_url(acme)}  admin / {demo.CLIENT_PASSWORD}")
    click.echo("")
