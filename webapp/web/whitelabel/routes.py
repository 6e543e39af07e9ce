"""White label in the dashboard (W1, W2): the agency's defaults and one account's override."""
from flask import Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...services import branding
from ..decorators import agency_required, current_actor, current_scope, permission_required
from ..forms import submit
from ..rendering import render
from .blueprint import bp
from .forms import BrandingForm, DefaultsForm

FIELDS = branding.TEXT_FIELDS
COLOUR_DEFAULTS = {"primary_color": branding.DEFAULT_PRIMARY, "accent_color": branding.DEFAULT_ACCENT}


def _input(form) -> branding.BrandingInput:
    upload = form.logo.data
    data = upload.read(branding.MAX_LOGO_BYTES + 1) if upload and getattr(upload, "filename", "") else None
    return branding.BrandingInput(**{f: getattr(form, f).data or "" for f in FIELDS}, logo=data,
                                  remove_logo=bool(form.remove_logo.data))


def _fill(form, row):
    if row is not None:
        for f, value in branding.values_of(row).items():
            getattr(form, f).data = value
        if hasattr(form, "add_templates"):
            form.add_templates.data = bool(row.add_templates)
            form.language_picker.data = bool(row.language_picker)


def logo_response(row) -> Response:
    if row is None or not row.logo:
        abort(404)
    response = Response(row.logo, mimetype=row.logo_mime)
    # An SVG opened on its own must not run anything, whatever survived sanitizing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.route("/settings/branding", methods=["GET", "POST"])
@agency_required
@permission_required("library")
def defaults():
    form = DefaultsForm()
    row = branding.defaults_of(current_user.agency_id)
    sent = submit(form, lambda: branding.save_defaults(current_user.agency_id, _input(form),
                                                       update_existing=bool(form.update_existing.data),
                                                       add_templates=bool(form.add_templates.data),
                                                       language_picker=bool(form.language_picker.data),
                                                       actor=current_actor()))
    if sent.done:
        _row, op = sent.value
        flash(_("Saved. Accounts created from now on get this branding.") if op is None else
              _("Saved. Existing accounts are being updated in the background."), "success")
        return redirect(url_for("whitelabel.defaults"), code=303)
    status = sent.status
    if request.method == "GET":
        _fill(form, row)
    last = branding.last_run(current_user.agency_id)
    return render("whitelabel/defaults.html", form=form, row=row, operation=last,
                  preview_values=_preview_values(form.data),
                  logo_url=url_for("whitelabel.defaults_logo") if row is not None and row.logo else None), status


@bp.route("/settings/branding/progress")
@agency_required
@permission_required("library")
def progress():
    last = branding.last_run(current_user.agency_id)
    return render("whitelabel/_progress.html", operation=last)


@bp.route("/settings/branding/logo")
@agency_required
@permission_required("library")
def defaults_logo():
    return logo_response(branding.defaults_of(current_user.agency_id))


@bp.route("/settings/branding/preview")
@agency_required
@permission_required("library")
def preview():
    """The login card as it would look, from the form's current values (nothing saved)."""
    values = _preview_values({f: request.args.get(f) for f in FIELDS})
    return render("whitelabel/_preview.html", values=values, account_name=request.args.get("account_name", "")[:40])


def _preview_values(raw: dict) -> dict:
    """What the login card preview shows: the texts as typed, colours that are colours (else the default),
    and the accent as the links will show it (darkened when too light to read)."""
    values = {f: str(raw.get(f) or "")[:1000] for f in FIELDS}
    for colour, fallback in COLOUR_DEFAULTS.items():
        if not branding.COLOR_RE.match(values[colour]):
            values[colour] = fallback
    values["link_color"] = branding.link_color(values["accent_color"])
    return values


@bp.route("/accounts/<account_id>/branding", methods=["GET", "POST"])
@agency_required
@permission_required("manage_accounts")
def account(account_id):
    account = current_scope().account(account_id)
    form = BrandingForm()
    row = branding.of_account(account)
    if submit(form, lambda: branding.override(account, _input(form), current_actor())).done:
        flash(_("%(name)s now shows its own branding.", name=account.name), "success")
        return redirect(url_for("whitelabel.account", account_id=account.id), code=303)
    status = 422 if request.method == "POST" else 200
    if request.method == "GET":
        _fill(form, row)
    return render("whitelabel/account.html", form=form, account=account, row=row,
                  preview_values=_preview_values(form.data),
                  logo_url=url_for("whitelabel.account_logo", account_id=account.id) if row is not None and row.logo
                  else None), status


@bp.route("/accounts/<account_id>/branding/reset", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def reset(account_id):
    account = current_scope().account(account_id)
    branding.reset(account, current_actor())
    flash(_("%(name)s follows your default branding again.", name=account.name), "success")
    return redirect(url_for("whitelabel.account", account_id=account.id), code=303)


@bp.route("/accounts/<account_id>/branding/logo")
@agency_required
@permission_required("manage_accounts")
def account_logo(account_id):
    return logo_response(branding.of_account(current_scope().account(account_id)))
