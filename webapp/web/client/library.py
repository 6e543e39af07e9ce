"""The hosted account's Templates (W9: share, import, revoke) and Automations (P8) pages, and the
public page a template share link opens."""
from flask import abort, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from ...services import audit, automations, hosts, templates
from ...services.errors import ServiceError
from ..decorators import account_admin_required, current_actor
from ..forms import submit
from ..whitelabel.template_routes import preview_response
from .blueprint import bp
from .forms import ClientTemplateForm, ImportTemplateForm


def _actor() -> audit.Actor:
    """The agency user when it signed in as the client (A10), else the account's admin."""
    by = session.get("signed_in_by")
    if by:
        return audit.Actor(f"user:{by['user_id']}", by["label"], request.remote_addr, by.get("agency_id"))
    return current_actor()


def share_url(token: str) -> str:
    return hosts.account_url(g.account, url_for("client.shared", token=token))


@bp.route("/app/templates", methods=["GET", "POST"])
@account_admin_required
def templates_index():
    """The list, and "Import template" (a share link made in another account)."""
    form = ImportTemplateForm()
    sent = submit(form, lambda: templates.import_into_account(g.account, form.link.data or "", _actor()),
                  refusals=ServiceError)
    if sent.done:
        flash(_("“%(name)s” was imported.", name=sent.value.name), "success")
        return redirect(url_for("client.template_show", template_id=sent.value.id), code=303)
    return render_template("client/templates.html", rows=templates.account_templates(g.account),
                           form=form), sent.status


@bp.route("/app/templates/new", methods=["GET", "POST"])
@account_admin_required
def template_new():
    form = ClientTemplateForm()
    sent = submit(form, lambda: templates.create_in_account(g.account, templates.TemplateInput(
        form.name.data or "", form.tags.data or "", form.html.data or ""), _actor()), refusals=ServiceError)
    if sent.done:
        flash(_("“%(name)s” was saved.", name=sent.value.name), "success")
        return redirect(url_for("client.template_show", template_id=sent.value.id), code=303)
    return render_template("client/template_new.html", form=form), sent.status


@bp.route("/app/templates/preview", methods=["POST"])
@account_admin_required
def template_live_preview():
    raw = (request.form.get("html") or "")[:templates.MAX_HTML_CHARS]
    return preview_response(templates.sanitize_html(raw))


@bp.route("/app/templates/<template_id>")
@account_admin_required
def template_show(template_id):
    row = templates.account_template(g.account, template_id)
    return render_template("client/template_show.html", row=row, links=templates.share_links(row), new_link=None)


@bp.route("/app/templates/<template_id>/edit", methods=["GET", "POST"])
@account_admin_required
def template_edit(template_id):
    """Name, tags and HTML of one of the account's templates, checked and sanitized as when it was made."""
    row = templates.account_template(g.account, template_id)
    form = ClientTemplateForm(data={"name": row.name, "tags": row.tags, "html": row.html}
                              if request.method == "GET" else None)
    sent = submit(form, lambda: templates.edit_in_account(g.account, row.id, templates.TemplateInput(
        form.name.data or "", form.tags.data or "", form.html.data or ""), _actor()), refusals=ServiceError)
    if sent.done:
        flash(_("“%(name)s” was saved.", name=sent.value.name), "success")
        return redirect(url_for("client.template_show", template_id=row.id), code=303)
    return render_template("client/template_edit.html", row=row, form=form), sent.status


@bp.route("/app/templates/<template_id>/html")
@account_admin_required
def template_html(template_id):
    return preview_response(templates.account_template(g.account, template_id).html)


@bp.route("/app/templates/<template_id>/share", methods=["POST"])
@account_admin_required
def template_share(template_id):
    """W9: a new share link, shown this once (only its hash is kept)."""
    link, token = templates.share(g.account, template_id, _actor())
    row = templates.account_template(g.account, template_id)
    return render_template("client/template_show.html", row=row, links=templates.share_links(row),
                           new_link=share_url(token), new_link_id=link.id), 201


@bp.route("/app/templates/<template_id>/links/<link_id>/revoke", methods=["POST"])
@account_admin_required
def template_revoke(template_id, link_id):
    templates.revoke(g.account, template_id, link_id, _actor())
    flash(_("The share link was revoked: it imports nothing any more."), "success")
    return redirect(url_for("client.template_show", template_id=template_id), code=303)


@bp.route("/app/templates/<template_id>/delete", methods=["POST"])
@account_admin_required
def template_delete(template_id):
    row = templates.account_template(g.account, template_id)
    name = row.name
    templates.delete_in_account(g.account, row.id, _actor())
    flash(_("“%(name)s” was deleted.", name=name), "success")
    return redirect(url_for("client.templates_index"), code=303)


@bp.route("/app/shared/<token>")
def shared(token):
    """What a share link opens: the template, and how to import it. No login: the link is the key."""
    row = templates.shared_template(token)
    if row is None:
        return render_template("client/shared.html", row=None, token=token), 410
    return render_template("client/shared.html", row=row, token=token)


@bp.route("/app/shared/<token>/html")
def shared_html(token):
    row = templates.shared_template(token)
    if row is None:
        abort(404)
    return preview_response(row.html)


@bp.route("/app/automations")
@account_admin_required
def automations_index():
    return render_template("client/automations.html", rows=automations.in_account(g.account))


@bp.route("/app/automations/<automation_id>/delete", methods=["POST"])
@account_admin_required
def automation_delete(automation_id):
    row = automations.delete_in_account(g.account, automation_id, _actor())
    flash(_("“%(name)s” was deleted from this account.", name=row.name), "success")
    return redirect(url_for("client.automations_index"), code=303)
