"""Logging in and passwords, for dashboard users and hosted-account users."""
from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import AccountUser, User, utcnow
from . import audit, sessions
from .errors import ValidationFailed
from .passwords import hash_password, password_problem, verify_password


@lru_cache(maxsize=1)
def timezones() -> tuple[str, ...]:
    return tuple(sorted(tz for tz in available_timezones() if "/" in tz or tz == "UTC"))


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def authenticate(email: str, password: str) -> User | None:
    """The dashboard user with these credentials, or None. Unknown e-mails cost the same time."""
    user = db.session.scalar(sa.select(User).where(User.email == normalize_email(email)))
    if not verify_password(user.password_hash if user else None, password or ""):
        return None
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def change_password(user, *, current: str, new: str, confirm: str, actor: audit.Actor) -> None:
    """Checks the current password and the strength of the new one; ends the user's other sessions."""
    fields = {}
    if not verify_password(user.password_hash, current or ""):
        fields["current_password"] = str(_l("The current password is not right."))
    identity = getattr(user, "email", "") or ""
    problem = password_problem(new or "", identity=identity)
    if problem:
        fields["new_password"] = str(problem)
    elif new != confirm:
        fields["confirm_password"] = str(_l("The two new passwords are not the same."))
    elif current == new:
        fields["new_password"] = str(_l("Choose a password different from the current one."))
    if fields:
        raise ValidationFailed(str(_l("The password was not changed.")), fields)
    user.password_hash = hash_password(new)
    user.session_epoch += 1
    sessions.end_others(user)
    if isinstance(user, AccountUser):
        user.password_changed_at = utcnow()
    audit.record(actor, "password_changed", account_id=getattr(user, "account_id", None))
    db.session.commit()


def update_preferences(user: User, *, language: str, timezone: str, languages) -> None:
    fields = {}
    if language not in languages:
        fields["language"] = str(_l("Pick one of the languages offered."))
    if timezone not in timezones():
        fields["timezone"] = str(_l("Pick a time zone from the list (for example Europe/Paris)."))
    if fields:
        raise ValidationFailed(str(_l("Your preferences were not saved.")), fields)
    user.language, user.timezone = language, timezone
    db.session.commit()
