"""The Agency API page (S2): the agency's tokens and the API's documentation (its webhooks: webhooks.py)."""
from flask import current_app, flash, redirect, url_for
from flask_babel import gettext as _
from flask_htmx import make_response as htmx_response
from flask_login import current_user

from ...services import api_tokens, hosts
from ...services.errors import ServiceError, ValidationFailed
from ..decorators import agency_required, current_actor, current_scope, permission_required, recent_login_required
from ..forms import add_untold, apply_errors
from ..rendering import render, wants_fragment
from . import docs
from .blueprint import bp
from .forms import TokenForm
from .page import page


@bp.route("/settings/api")
@agency_required
@permission_required("api_tokens")
def index():
    return page(TokenForm())


@bp.route("/settings/api", methods=["POST"])
@agency_required
@permission_required("api_tokens")
@recent_login_required
def create():
    """The new token is in this answer and nowhere else (not even the session): the page a POST
    answers with shows it once, instead of a redirect that would need it stored to show it."""
    form = TokenForm()
    if not form.validate_on_submit():
        add_untold(form, lambda: api_tokens.create_problems(form.name.data, form.scope.data, form.expires_on.data))
        return page(form, status=422)
    try:
        token, raw = api_tokens.create(current_user, form.name.data, current_actor(), scope=form.scope.data,
                                       expires_on=form.expires_on.data)
    except ValidationFailed as exc:
        apply_errors(form, exc)
        return page(form, status=422)
    return page(TokenForm(formdata=None), created={"token": token, "raw": raw}, status=201)


@bp.route("/settings/api/<token_id>/revoke", methods=["POST"])
@agency_required
@permission_required("api_tokens")
def revoke(token_id):
    try:
        token = api_tokens.revoke(current_scope(), token_id, current_actor())
    except ServiceError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "danger")
    else:
        flash(_("The token “%(name)s” (%(prefix)s…) is revoked: requests made with it are refused from now on.",
                name=token.name, prefix=token.prefix), "success")
    target = url_for("api_tokens.index")
    return htmx_response(redirect=target) if wants_fragment() else redirect(target, code=303)


@bp.route("/settings/api/docs")
@agency_required
@permission_required("api_tokens")
def documentation():
    document = current_app.extensions["openapi"]
    return render("api_tokens/docs.html", doc=docs.present(document),
                  api_base=hosts.dashboard_url(document["servers"][0]["url"]))
