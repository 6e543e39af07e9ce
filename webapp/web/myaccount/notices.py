"""My account > Notices (N2): the agency's notification settings. Everyone in the team sees them; an Owner
or an Admin changes them (permission "notices", which the service checks again for every caller)."""
from flask import current_app, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...services import notice_settings, permissions
from ..decorators import agency_required, can, current_actor, permission_required
from ..forms import submit
from ..rendering import render, wants_fragment
from .blueprint import bp
from .forms import NoticeSettingsForm


def _form(settings=None) -> NoticeSettingsForm:
    """The posted form (settings None), or a fresh one showing the saved settings."""
    if settings is None:
        form = NoticeSettingsForm()
    else:
        form = NoticeSettingsForm(formdata=None, data={name: getattr(settings, name)
                                                       for name in notice_settings.FIELDS})
    form.notice_language.choices = list(current_app.config["LANGUAGES"].items())
    return form


def _page(form, settings, *, status=200, saved=False):
    response = render("myaccount/notices.html", "myaccount/_notices.html", form=form, settings=settings,
                      saved=saved, may_change=can("notices"), denied=permissions.DENIED["notices"],
                      languages=current_app.config["LANGUAGES"])
    response.status_code = status
    return response


@bp.route("/my-account/notices")
@agency_required
@permission_required("view")
def notices():
    settings = notice_settings.settings_of(current_user.agency_id)
    return _page(_form(settings), settings)


@bp.route("/my-account/notices", methods=["POST"])
@agency_required
@permission_required("notices")
def save_notices():
    form = _form()
    result = submit(form, lambda: notice_settings.save(
        current_actor(), current_user.agency_id, **{name: form[name].data for name in notice_settings.FIELDS}))
    if result.done and wants_fragment():
        return _page(_form(result.value), result.value, saved=True)
    if result.done:
        flash(_("The notification settings were saved."), "success")
        return redirect(url_for("myaccount.notices"), code=303)
    # htmx swaps no 4xx answer: its form comes back in place (200) with the errors; nothing was written.
    return _page(form, notice_settings.settings_of(current_user.agency_id),
                 status=200 if wants_fragment() else result.status)
