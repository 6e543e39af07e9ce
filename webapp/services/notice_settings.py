"""N2: an agency's notification settings. Where the notices about the agency itself go (blank: its
owners), the language of its notices, and the optional notices it wants: renewal receipts, a daily digest
instead of them on busy days, upcoming annual renewals. The required ones (declines, disabling, abuse and
bounce reports, security, trial endings and expiries) have no setting: nothing here can turn them off.
services.notices and services.reminders read these columns when they send."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import Agency
from . import audit, notices, permissions
from .auth import normalize_email
from .errors import NotFound, ValidationFailed
from .validation import email_problem, text_problems

EMAIL_MAX = 254
FIELDS = ("notice_email", "notice_language", "notify_receipts", "receipt_digest", "notify_upcoming")


@dataclass(frozen=True)
class NoticeSettings:
    notice_email: str  # "" when the notices go to the owners
    notice_language: str
    notify_receipts: bool
    receipt_digest: bool
    notify_upcoming: bool
    owners: tuple[str, ...]  # the owners' e-mails: who gets the notices when notice_email is blank

    @property
    def recipients(self) -> tuple[str, ...]:
        return (self.notice_email,) if self.notice_email else self.owners


def _agency(agency_id) -> Agency:
    agency = db.session.get(Agency, agency_id) if isinstance(agency_id, int) else None
    if agency is None:
        raise NotFound()
    return agency


def _owners(agency_id: int) -> tuple[str, ...]:
    return tuple(notices.owner_addresses(agency_id))


def _of(agency: Agency) -> NoticeSettings:
    return NoticeSettings(notice_email=agency.notice_email or "", notice_language=agency.notice_language or "en",
                          notify_receipts=bool(agency.notify_receipts), receipt_digest=bool(agency.receipt_digest),
                          notify_upcoming=bool(agency.notify_upcoming), owners=_owners(agency.id))


def settings_of(agency_id: int) -> NoticeSettings:
    return _of(_agency(agency_id))


def save(actor: audit.Actor, agency_id: int, *, notice_email: str | None, notice_language: str,
         notify_receipts: bool, receipt_digest: bool, notify_upcoming: bool) -> NoticeSettings:
    """Checks every field and writes all of them or none (ValidationFailed names each field refused)."""
    permissions.require(actor, "notices")
    if permissions.acts_for_an_agency(actor) and actor.agency_id != agency_id:
        raise NotFound()  # another agency's settings: as if they did not exist
    agency = _agency(agency_id)
    email = normalize_email(notice_email)
    fields = text_problems(notice_email=email, notice_language=notice_language)
    if "notice_email" not in fields and email:
        if len(email) > EMAIL_MAX:
            fields["notice_email"] = str(_l("Use at most %(n)s characters.", n=EMAIL_MAX))
        elif problem := email_problem(email):
            fields["notice_email"] = problem
    if "notice_language" not in fields and notice_language not in current_app.config["LANGUAGES"]:
        fields["notice_language"] = str(_l("Pick one of the languages offered."))
    if fields:
        raise ValidationFailed(str(_l("The notification settings were not saved.")), fields)
    new = {"notice_email": email or None, "notice_language": notice_language,
           "notify_receipts": bool(notify_receipts), "receipt_digest": bool(receipt_digest),
           "notify_upcoming": bool(notify_upcoming)}
    changed = {name: {"from": getattr(agency, name), "to": value} for name, value in new.items()
               if getattr(agency, name) != value}
    if changed:  # saving the same settings again writes nothing and logs nothing
        for name, value in new.items():
            setattr(agency, name, value)
        audit.record(actor, "notice_settings_changed", agency_id=agency.id, changed=changed)
        db.session.commit()
    return _of(agency)
