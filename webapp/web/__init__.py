"""The dashboard's blueprints (one package per area) and the hosted account's own pages,
chosen by the request's Host header."""
from __future__ import annotations

import logging
import time
from functools import lru_cache
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask_babel import lazy_gettext as _l

from ..extensions import db, login_manager
from ..models import AccountUser, HostedAccount, User
from ..services import hosts, sessions
from ..errors import bad_host
from . import filters, navigation, signin

request_log = logging.getLogger("agencyhq.requests")

# Blueprints that answer on a hosted account's host; every other one answers on the dashboard host.
ACCOUNT_SITE_BLUEPRINTS = {"client"}


def register_web(app: Flask) -> None:
    from .accounts import bp as accounts_bp
    from .api_tokens import bp as api_tokens_bp
    from .auth import bp as auth_bp
    from .billing import bp as billing_bp
    from .client import bp as client_bp
    from .commission import bp as commission_bp
    from .contact import bp as contact_bp
    from .health import bp as health_bp
    from .help import bp as help_bp
    from .myaccount import bp as myaccount_bp
    from .pushdown import bp as pushdown_bp
    from .reports import bp as reports_bp
    from .resold import bp as resold_bp
    from .support import bp as support_bp
    from .team import bp as team_bp
    from .webhooks import bp as webhooks_bp
    from .whitelabel import bp as whitelabel_bp

    for bp in (auth_bp, resold_bp, accounts_bp, billing_bp, whitelabel_bp, myaccount_bp, help_bp, contact_bp,
               support_bp, api_tokens_bp, client_bp, pushdown_bp, health_bp, commission_bp, team_bp, webhooks_bp,
               reports_bp):
        app.register_blueprint(bp)

    # Browsers and tools ask every host for /favicon.ico (issue 23): the static file answers it.
    app.add_url_rule("/favicon.ico", endpoint="static", defaults={"filename": "favicon.ico"})

    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)

    # First of all before-request functions (CSRF checks included), so every request is timed.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    # Next, before CSRF checks and host routing: both may answer with a page that builds URLs.
    app.before_request_funcs[None].insert(1, _reject_bad_host)
    app.before_request(_route_by_host)
    app.after_request(_security_headers)
    app.after_request(_log_request)
    filters.register(app)
    navigation.register(app)
    signin.register(app)


def _start_timer():
    g.request_started = time.perf_counter()
    g.request_cpu_started = time.thread_time()


def _log_request(response):
    """One line per request, key=value (structured logs): its duration, and the CPU time this request's
    thread spent, which tells a slow query or a busy machine (waiting) from costly Python (cpu)."""
    started, cpu_started = g.get("request_started"), g.get("request_cpu_started")
    duration = (time.perf_counter() - started) * 1000 if started else -1
    cpu = (time.thread_time() - cpu_started) * 1000 if cpu_started is not None else -1
    request_log.info("request method=%s path=%s status=%s duration_ms=%.1f cpu_ms=%.1f endpoint=%s host=%s htmx=%s",
                     request.method, request.path, response.status_code, duration, cpu, request.endpoint,
                     request.host, int(request.headers.get("HX-Request") == "true"))
    return response


def _reject_bad_host():
    if not hosts.is_valid_host(request.host):
        return bad_host()
    return None


def _route_by_host():
    """Picks the site from the Host header: the dashboard, a hosted account, or 404."""
    if request.blueprint == "health":
        return None  # probes come by IP address, on any Host
    site = hosts.resolve(request.host)
    if site is None:
        abort(404)
    g.site = site
    g.account = db.session.get(HostedAccount, site.account_id) if site.account_id else None
    if request.endpoint == "static" or request.endpoint is None:
        return None
    blueprint = request.blueprints[0] if request.blueprints else None
    on_account_site = site.kind == "account"
    if on_account_site and blueprint not in ACCOUNT_SITE_BLUEPRINTS:
        if request.path == "/":
            return redirect(url_for("client.overview"))
        abort(404)
    if not on_account_site and blueprint in ACCOUNT_SITE_BLUEPRINTS:
        abort(404)
    return None


def _load_user(session_id: str):
    """Sessions say which kind of user they are for; each kind only counts on its own site, and only
    while its login stands (services.sessions)."""
    try:
        kind, ident, epoch, login_id = session_id.split(":")
        ident, epoch = int(ident), int(epoch)
    except (ValueError, AttributeError):
        return None
    site = g.get("site")
    if site is None:
        return None
    if kind == "u" and site.kind == "dashboard":
        user = sessions.find(User, ident, epoch, login_id)
        if user is not None:
            sessions.seen(user)  # "Where you're signed in" (written at most every few minutes)
        return user
    if kind == "h" and site.kind == "account":
        user = sessions.find(AccountUser, ident, epoch, login_id)
        return user if user is not None and user.account_id == site.account_id else None
    return None


def _unauthorized():
    site = g.get("site")
    target = "client.login" if site is not None and site.kind == "account" else "auth.login"
    from flask import flash
    from flask_htmx import make_response as htmx_response
    from flask_login import login_url
    location = login_url(target, next_url=request.full_path if request.method == "GET" else None)
    if request.headers.get("HX-Request"):
        # A bare fragment must not swap a login page into the table: send the browser there.
        return htmx_response(redirect=location)
    flash(login_manager.login_message, "info")
    return redirect(location)


def _content_security_policy() -> str:
    """As strict as the pages allow: scripts, styles and everything else from this site only, no inline
    script or style, no plugins, framed only by this site. Bootstrap's form controls draw their arrows
    from data: images. The dashboard's forms may lead to a hosted account's host (Login opens it by a
    redirect after the POST, which form-action also governs)."""
    cfg, site = current_app.config, g.get("site")
    dashboard = site is not None and site.kind == "dashboard"
    # Stripe's card form is shown on the dashboard's billing profile and on a client-billed account's own
    # Billing page (its host, C1/A4); nowhere else on an account's site.
    card_page = (request.endpoint or "").startswith("client.billing")
    stripe = (dashboard or card_page) and cfg.get("PAYMENT_GATEWAY") == "stripe"
    return _policy(dashboard, cfg.get("PREFERRED_URL_SCHEME", "http"), cfg["PLATFORM_DOMAIN"], cfg.get("PUBLIC_PORT"),
                   _origin(cfg.get("STRIPE_JS_URL")) if stripe else "", _origin(cfg.get("STRIPE_API_BASE")) if stripe else "")


def _origin(url: str | None) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


@lru_cache(maxsize=16)
def _policy(dashboard: bool, scheme: str, domain: str, port, stripe_js: str = "", stripe_api: str = "") -> str:
    """The pages' policy. Under Stripe the dashboard also loads Stripe.js, shows its card frames and
    lets them talk to Stripe's API (js.stripe.com, api.stripe.com; the stand-in's origin in tests)."""
    form_action = "'self'"
    if dashboard:
        form_action += f" {scheme}://*.{domain}" + (f":{port}" if port else "")
    script = " ".join(filter(None, ["'self'", stripe_js]))
    frame = " ".join(filter(None, ["'self'", stripe_js, "https://hooks.stripe.com" if stripe_js else ""]))
    connect = " ".join(filter(None, ["'self'", stripe_api]))
    return (f"default-src 'self'; script-src {script}; style-src 'self'; img-src 'self' data:; font-src 'self'; "
            f"connect-src {connect}; frame-src {frame}; object-src 'none'; base-uri 'self'; form-action {form_action}; "
            "frame-ancestors 'self'")


def _security_headers(response):
    # A response with a policy of its own (a template preview's, stricter) keeps it.
    response.headers.setdefault("Content-Security-Policy", _content_security_policy())
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response

