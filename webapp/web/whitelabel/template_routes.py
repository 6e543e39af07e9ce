"""W8 in the dashboard: the agency's templates for new accounts ("Manage templates", beside the "Add my
templates" switch of Account default settings), of three kinds: basic (pasted HTML), designer (a share link),
copy (from an account); each can be edited afterwards (name, tags, HTML)."""
from flask import Response, flash, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import escape
from flask_login import current_user

from ...services import templates
from ...services.errors import ServiceError
from ..decorators import agency_required, current_actor, permission_required
from ..forms import Form, apply_errors, submit
from ..rendering import render
from .blueprint import bp
from .forms import ShareLinkForm, TemplateForm

KINDS = ("basic", "designer", "copy")
# A template's HTML is shown as its own document: sandboxed (no script, no same-origin access), and
# allowed to load nothing but inline styles and pictures.
PREVIEW_CSP = "sandbox; default-src 'none'; img-src https: http: data: cid:; style-src 'unsafe-inline'; font-src https:"


def preview_response(html: str) -> Response:
    """A template's own HTML as a document of its own (shown in a sandboxed frame): with a language and a title,
    so a screen reader names and reads it even when opened alone (WCAG 3.1.1, 2.4.2)."""
    title = escape(_("Template preview"))
    document = (f'<!doctype html><html lang="{get_locale()}"><head><meta charset="utf-8">'
                f'<meta name="referrer" content="no-referrer"><title>{title}</title></head><body>{html}</body></html>')
    response = Response(document, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/settings/templates")
@agency_required
@permission_required("library")
def templates_index():
    return render("whitelabel/templates.html", rows=templates.agency_templates(current_user.agency_id),
                  adds=templates.adds_templates(current_user.agency_id))


@bp.route("/settings/templates/new", methods=["GET", "POST"])
@agency_required
@permission_required("library")
def templates_new():
    kind = request.args.get("kind", "basic")
    kind = kind if kind in KINDS else "basic"
    basic, by_link, copy = TemplateForm(prefix="basic"), ShareLinkForm(prefix="designer"), Form(prefix="copy")
    form = {"basic": basic, "designer": by_link, "copy": copy}[kind]
    status = 200
    account_name = request.args.get("account", "").strip()[:100]
    account = templates.account_for_copy(current_user.agency_id, account_name) if kind == "copy" else None
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                row = _add(kind, basic, by_link)
            except ServiceError as exc:
                apply_errors(form, exc)
                status = exc.status if exc.status in (404, 409, 422) else 422
            else:
                flash(_("“%(name)s” is one of your templates: accounts created from now on get a copy.",
                        name=row.name), "success")
                return redirect(url_for("whitelabel.templates_index"), code=303)
        else:
            status = 422
    return render("whitelabel/templates_new.html", kind=kind, basic=basic, by_link=by_link, copy=copy,
                  account_name=account_name, account=account,
                  account_rows=templates.account_templates(account) if account else []), status


def _add(kind, basic, by_link):
    agency_id, actor = current_user.agency_id, current_actor()
    if kind == "basic":
        return templates.add_basic(agency_id, templates.TemplateInput(
            basic.name.data or "", basic.tags.data or "", basic.html.data or ""), actor)
    if kind == "designer":
        return templates.add_from_share_link(agency_id, by_link.link.data or "", actor, name=by_link.name.data or "")
    return templates.add_copy(agency_id, request.form.get("account_id"), request.form.get("template_id"), actor)


@bp.route("/settings/templates/preview", methods=["POST"])
@agency_required
@permission_required("library")
def templates_live_preview():
    """The pasted HTML as it will be kept (sanitized), in a sandboxed frame: nothing saved."""
    raw = (request.form.get("basic-html") or "")[:templates.MAX_HTML_CHARS]
    return preview_response(templates.sanitize_html(raw))


@bp.route("/settings/templates/<template_id>")
@agency_required
@permission_required("library")
def templates_show(template_id):
    row = templates.agency_template(current_user.agency_id, template_id)
    return render("whitelabel/template_show.html", row=row)


@bp.route("/settings/templates/<template_id>/edit", methods=["GET", "POST"])
@agency_required
@permission_required("library")
def templates_edit(template_id):
    """Name, tags and HTML of one of the agency's templates, checked and sanitized as when it was added."""
    row = templates.agency_template(current_user.agency_id, template_id)
    # The "basic" prefix: the live preview reads basic-html, as on the page that adds one.
    form = TemplateForm(prefix="basic", data={"name": row.name, "tags": row.tags, "html": row.html}
                        if request.method == "GET" else None)
    sent = submit(form, lambda: templates.edit_agency_template(current_user.agency_id, row.id, templates.TemplateInput(
        form.name.data or "", form.tags.data or "", form.html.data or ""), current_actor()))
    if sent.done:
        flash(_("“%(name)s” was saved. Accounts created from now on get this version; those that have a copy keep "
                "theirs.", name=sent.value.name), "success")
        return redirect(url_for("whitelabel.templates_show", template_id=row.id), code=303)
    return render("whitelabel/template_edit.html", row=row, form=form), sent.status


@bp.route("/settings/templates/<template_id>/html")
@agency_required
@permission_required("library")
def templates_html(template_id):
    return preview_response(templates.agency_template(current_user.agency_id, template_id).html)


@bp.route("/settings/templates/<template_id>/delete", methods=["POST"])
@agency_required
@permission_required("library")
def templates_delete(template_id):
    row = templates.agency_template(current_user.agency_id, template_id)
    name = row.name
    templates.delete_agency_template(current_user.agency_id, row.id, current_actor())
    flash(_("“%(name)s” was deleted. Accounts that already have a copy keep it.", name=name), "success")
    return redirect(url_for("whitelabel.templates_index"), code=303)
