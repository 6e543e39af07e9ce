"""Role checks, in one module, on top of login_required."""
from __future__ import annotations

from functools import wraps

from flask import abort, g, redirect, request, url_for
from flask_login import current_user, login_required

from ..models import AccountUser, User
from ..services import permissions
from ..services.audit import Actor
from ..services.errors import Forbidden
from ..services.scope import AgencyScope


def _role(check):
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not check(current_user):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


agency_required = _role(lambda u: isinstance(u, User) and u.is_agency_user)
support_required = _role(lambda u: isinstance(u, User) and u.is_support)
dashboard_user_required = _role(lambda u: isinstance(u, User))
account_admin_required = _role(lambda u: isinstance(u, AccountUser) and g.get("account") is not None
                               and u.account_id == g.account.id)


def permission_required(permission: str):
    """The agency user's role in the team must allow `permission` (services/permissions.py), or the
    page answers 403 with what the role may not do. Goes under agency_required. The permission is kept
    on the view (`view.permission`) so the tests' role matrix reads it from the URL map."""
    if permission not in permissions.PERMISSIONS:
        raise KeyError(permission)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not permissions.allows(getattr(current_user, "team_role", None), permission):
                raise Forbidden(str(permissions.DENIED[permission]))
            return view(*args, **kwargs)
        wrapped.permission = permission
        return wrapped
    return decorator


def can(permission: str) -> bool:
    """Whether the signed-in agency user's role allows it: what the menu and the buttons offer."""
    return isinstance(current_user, User) and permissions.allows(current_user.team_role, permission)


def recent_login_required(view):
    """The password (and code) given in the last 10 minutes, before what a stolen session must not do:
    saving a card, changing an e-mail or a password, team changes, API tokens, turning 2FA off. Otherwise
    the person confirms it is them and comes back here (a form posted meanwhile is shown again)."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        from ..services import sessions
        if not sessions.recently_authenticated(current_user):
            back = request.full_path if request.method == "GET" else _same_site_referrer()
            return redirect(url_for("auth.reauth", next=back), code=303)
        return view(*args, **kwargs)
    return wrapped


def _same_site_referrer() -> str:
    from urllib.parse import urlsplit
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc and referrer.netloc != request.host:
        return "/"
    return (referrer.path or "/") + (f"?{referrer.query}" if referrer.query else "")


def current_scope() -> AgencyScope:
    """The agency-scoped query helper for the logged-in agency user."""
    return AgencyScope(current_user.agency_id)


def current_actor() -> Actor:
    from flask import request
    ip = request.remote_addr
    if isinstance(current_user, User):
        return Actor(f"user:{current_user.id}", current_user.email, ip, current_user.agency_id,
                     team_role=current_user.team_role)
    if isinstance(current_user, AccountUser):
        return Actor(f"account_user:{current_user.id}", f"{current_user.username}@{g.account.name}", ip,
                     g.account.agency_id)
    return Actor("anonymous", "anonymous", ip)
