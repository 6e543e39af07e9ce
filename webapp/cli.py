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
    @click.option("--scope", type=click.Choice(["read_write", "read"]), default="read_write", show_default=True,
                  help="read: the token can only read.")
    @click.option("--expires-on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="The last day (UTC) the token works, YYYY-MM-DD; none: it does not expire.")
    def create_api_token(email, name, scope, expires_on):
        """Print a new Agency API token for the agency of the user with this e-mail (S2)."""
        from .extensions import db
        from .models import User
        from .services import api_tokens, audit
        user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
        if user is None or not user.is_agency_user:
            raise click.ClickException(f"no agency user has the e-mail {email}")
        try:
            token, raw = api_tokens.create(user, name, audit.Actor("cli", f"flask create-api-token ({user.email})",
                                                                   None, user.agency_id), scope=scope,
                                           expires_on=expires_on.date() if expires_on else None)
        except ServiceError as exc:
            raise click.ClickException(" ".join([exc.message, *exc.fields.values()])) from None
        click.echo(raw)
        click.echo(f"Token {token.prefix}… “{token.name}” for {user.agency.name}. It is shown only now: keep it "
                   "somewhere safe.", err=True)

    # A production install's first logins (issue 19). None takes a password: each prints a single-use
    # link (24 h) where the person chooses one.
    @app.cli.command("create-agency")
    @click.argument("name")
    @click.argument("owner_email")
    @click.option("--owner-name", default="", help="The owner's name (the start of the e-mail otherwise).")
    def create_agency(name, owner_email, owner_name):
        """Open an active agency and print the link its owner uses to choose a password."""
        from .services import agencies, audit
        actor = audit.Actor("cli", "flask create-agency", None)
        try:
            agency, owner, url = agencies.create(name=name, owner_email=owner_email, owner_name=owner_name,
                                                 actor=actor, send_email=False)
        except ServiceError as exc:
            raise click.ClickException(_problem(exc)) from None
        click.echo(url)
        click.echo(f"Agency {agency.name} (id {agency.id}) is open. Send this link to {owner.email}: it sets "
                   "the owner's password, works once, for 24 hours.", err=True)

    @app.cli.command("create-support-user")
    @click.argument("email")
    @click.option("--name", default="", help="The staff member's name (the start of the e-mail otherwise).")
    def create_support_user(email, name):
        """Create a support staff login and print the link to choose its password."""
        from .services import agencies, audit
        try:
            user, url = agencies.create_support_user(email, name, audit.Actor("cli", "flask create-support-user",
                                                                             None))
        except ServiceError as exc:
            raise click.ClickException(_problem(exc)) from None
        click.echo(url)
        click.echo(f"Support login {user.email} is created. Open the link to choose its password (once, within "
                   "24 hours); two-factor sign-in is asked next when SUPPORT_REQUIRE_2FA is on.", err=True)

    @app.cli.command("reset-password")
    @click.argument("email")
    def reset_password(email):
        """Print a new single-use link to set the password of the login with this e-mail."""
        from .services import agencies, audit
        try:
            user, url = agencies.password_link(email, audit.Actor("cli", "flask reset-password", None))
        except ServiceError:
            raise click.ClickException(f"no login has the e-mail {email.strip()}") from None
        click.echo(url)
        click.echo(f"A link to set the password of {user.email} (once, within 24 hours; earlier links no longer "
                   "work). Its sign-ins end when the password is set.", err=True)

    @app.cli.command("sweep")
    def sweep():
        """One sweeper pass: re-enqueue lost operations and run the periodic tasks."""
        from .jobs import sweeper
        click.echo(f"re-enqueued {sweeper.sweep()} operation(s)")


def _problem(exc: ServiceError) -> str:
    """A service's refusal on one line: what, and what is wrong with each value."""
    return " ".join([exc.message, *(f"{name}: {text}" for name, text in exc.fields.items())])


def _print_logins(demo, hosts) -> None:
    from .extensions import db
    from .models import HostedAccount
    click.echo("")
    click.echo(f"  Dashboard:      {hosts.dashboard_url('/login')}")
    click.echo(f"  Agency user:    {demo.AGENCY_EMAIL} / {demo.AGENCY_PASSWORD}  (Owner)")
    click.echo(f"  Team member:    {demo.MEMBER_EMAIL} / {demo.MEMBER_PASSWORD}  (Member: no billing, team or API)")
    click.echo(f"  Support staff:  {demo.SUPPORT_EMAIL} / {demo.SUPPORT_PASSWORD}")
    if not current_app.config["SUPPORT_REQUIRE_2FA"]:
        click.echo("                  (two-factor sign-in for support is off in this demo: SUPPORT_REQUIRE_2FA=0;"
                   " production requires it)")
    else:
        click.echo("                  (support must set up two-factor sign-in at the first sign-in)")
    acme = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == demo.CLIENT_ACCOUNT))
    if acme is not None:
        click.echo(f"  Hosted account: {hosts.account_login_url(acme)}  admin / {demo.CLIENT_PASSWORD}")
    click.echo("")
