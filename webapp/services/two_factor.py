"""Two-factor sign-in for dashboard users (TOTP, RFC 6238, with pyotp): enrolment by a QR code (segno,
rendered here, offline) confirmed by a first code; ten single-use recovery codes, kept hashed and shown
once; a code is accepted one 30-second step either side of now, and each step only once (the last one
accepted is kept), so a code seen over a shoulder cannot be replayed."""
from __future__ import annotations

import base64
import hashlib
import secrets

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import RecoveryCode, User, utcnow
from . import audit, hosts, mail, notices, sessions
from .errors import Conflict, ValidationFailed

ISSUER = "AgencyHQ"
RECOVERY_CODES = 10
VALID_WINDOW = 1  # steps either side of now


def _hash(code: str) -> str:
    return hashlib.sha256(_normal(code).encode()).hexdigest()


def _normal(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def required_for(user: User) -> bool:
    """Support staff must have it (SUPPORT_REQUIRE_2FA); an agency's members when its Owner requires it."""
    if user.is_support:
        return bool(current_app.config.get("SUPPORT_REQUIRE_2FA", True))
    return bool(user.agency is not None and user.agency.require_2fa)


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_data_uri(uri: str) -> str:
    """The QR code of an otpauth:// URI as an SVG data: URI (an <img>: the pages' policy allows data:
    images and no inline style), made here, offline."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=2, dark="#1d2430", light="#ffffff")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _matching_counter(secret: str, code: str, last: int | None) -> int | None:
    """The 30 s step a 6-digit code is for (now, or one step either side), if not used before."""
    code = _normal(code)
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now = int(utcnow().timestamp()) // totp.interval  # by our clock (a test moves it)
    for counter in range(now - VALID_WINDOW, now + VALID_WINDOW + 1):
        if secrets.compare_digest(totp.generate_otp(counter), code):
            return counter if last is None or counter > last else None
    return None


def enable(user: User, secret: str, code: str, actor: audit.Actor) -> list[str]:
    """Turns 2FA on once the first code from the app matches; returns the recovery codes (shown once)."""
    if user.has_2fa:
        raise Conflict(str(_l("Two-factor sign-in is already on.")))
    counter = _matching_counter(secret, code, None)
    if counter is None:
        problem = str(_l("This code does not match. Check the time on your phone and enter the code it shows now."))
        raise ValidationFailed(problem, {"code": problem})
    user.totp_secret, user.totp_enabled_at, user.totp_last_counter = secret, utcnow(), counter
    codes = _new_recovery_codes(user)
    audit.record(actor, "two_factor_enabled", agency_id=user.agency_id)
    db.session.commit()
    return codes


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)  # 40 bits, shown as xxxxx-xxxxx
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash(raw)))
    return codes


def regenerate_recovery_codes(user: User, actor: audit.Actor) -> list[str]:
    codes = _new_recovery_codes(user)
    audit.record(actor, "two_factor_recovery_codes_renewed", agency_id=user.agency_id)
    db.session.commit()
    return codes


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def check(user: User, code: str) -> str | None:
    """Accepts a code from the app ("totp") or a recovery code ("recovery"), each once; None otherwise.
    Two presses of the same code at once accept it once (conditional UPDATEs)."""
    if not user.has_2fa:
        return None
    counter = _matching_counter(user.totp_secret, code, user.totp_last_counter)
    if counter is not None:
        taken = db.session.execute(sa.update(User).where(
            User.id == user.id, sa.or_(User.totp_last_counter.is_(None), User.totp_last_counter < counter))
            .values(totp_last_counter=counter).execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        if taken == 1:
            user.totp_last_counter = counter
            return "totp"
        return None
    normal = _normal(code)
    if len(normal) != 10:
        return None
    used = db.session.execute(sa.update(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash(normal), RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return "recovery" if used == 1 else None


def disable(user: User, actor: audit.Actor, *, action: str = "two_factor_disabled") -> None:
    """Turns 2FA off (by the user, after re-authentication; or by support, `action` says which)."""
    user.totp_secret = user.totp_enabled_at = user.totp_last_counter = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record(actor, action, agency_id=user.agency_id, user=user.id)
    db.session.commit()


def reset_by_support(user: User, actor: audit.Actor) -> None:
    """Support resets a user's 2FA (a lost phone): off, every login of the user ends; the user is told."""
    sessions.end_all(user)
    email = notices.to_user(user, "two_factor_reset", {"my_account_url": hosts.dashboard_url("/my-account")})
    disable(user, actor, action="two_factor_reset_by_support")
    mail.enqueue_pending(email)


def pending_secret(user: User) -> str:
    """The secret being enrolled: kept on the user (not in a cookie) until the first code turns 2FA on,
    so reloading the page shows the same QR code."""
    if user.has_2fa:
        raise Conflict(str(_l("Two-factor sign-in is already on.")))
    if not user.totp_secret:
        user.totp_secret = new_secret()
        db.session.commit()
    return user.totp_secret


def turn_off(user: User, actor: audit.Actor) -> None:
    """The user turns it off (after re-authentication), unless their login requires it."""
    if required_for(user):
        raise Conflict(str(_l("Two-factor sign-in is required for your login: it cannot be turned off. "
                              "If you lost your phone, ask support to reset it.")))
    disable(user, actor)
