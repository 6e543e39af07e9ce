"""S2, X1: the agency's API tokens and the idempotency records of API requests.

A token is shown once, when it is made; the database keeps only its SHA-256 and its first
characters (to tell tokens apart). Tokens belong to the agency: its Owners and Admins make and revoke
them (services/permissions.py), and a token acts with its creator's role."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Agency, ApiIdempotencyRecord, ApiToken, User, utcnow
from . import audit, permissions
from .errors import Conflict, ValidationFailed
from .scope import AgencyScope

TOKEN_PREFIX = "ahq_"
PREFIX_LENGTH = 12  # "ahq_" and 8 random characters: enough to tell tokens apart, useless to guess one
NAME_MAX = 80
# last_used_at is written at most this often, so a busy client does not write on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
IDEMPOTENCY_TTL = timedelta(hours=24)
# A request still unanswered after this long is taken to have died (its process crashed): the key
# may be used again, and the services' own request keys make the rerun harmless.
IDEMPOTENCY_PENDING_TIMEOUT = timedelta(seconds=120)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


SCOPES = ("read_write", "read")
SCOPE_LABELS = {"read_write": _l("Read and write"), "read": _l("Read only")}
# An expiry date at most this far ahead (a token that should live longer simply has none).
MAX_LIFETIME_DAYS = 3 * 366


def expiry_problem(expires_on: date | None, today: date | None = None) -> str | None:
    if expires_on is None:
        return None
    today = today or utcnow().date()
    if expires_on < today:
        return str(_l("Choose a day from today on (or none, for a token that does not expire)."))
    if expires_on > today + timedelta(days=MAX_LIFETIME_DAYS):
        return str(_l("Choose a day within three years (or none, for a token that does not expire)."))
    return None


def create_problems(name: str | None, scope: str | None, expires_on: date | None) -> str:
    """The token's name as kept, or ValidationFailed with every field's problem at once."""
    name = " ".join((name or "").split())
    fields = {}
    if not name:
        fields["name"] = str(_l("Give the token a name."))
    elif len(name) > NAME_MAX or not name.isprintable():
        fields["name"] = str(_l("Use at most %(n)s printable characters.", n=NAME_MAX))
    if scope not in SCOPES:
        fields["scope"] = str(_l("Choose read only, or read and write."))
    problem = expiry_problem(expires_on)
    if problem:
        fields["expires_on"] = problem
    if fields:
        raise ValidationFailed(next(iter(fields.values())), fields)
    return name


def create(user: User, name: str, actor: audit.Actor, *, scope: str = "read_write",
           expires_on: date | None = None) -> tuple[ApiToken, str]:
    """A new token of the user's agency: the row, and the raw token to show once. `scope` "read" lets it only
    read; it works through the end of `expires_on` (UTC), or until revoked when None."""
    permissions.require(actor, "api_tokens")
    name = create_problems(name, scope, expires_on)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.combine(expires_on + timedelta(days=1), time(), tzinfo=timezone.utc) if expires_on else None
    token = ApiToken(agency_id=user.agency_id, user_id=user.id, name=name, prefix=raw[:PREFIX_LENGTH],
                     token_hash=hash_token(raw), scope=scope, expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    audit.record(actor, "api_token_created", agency_id=user.agency_id, token_id=token.id, name=name,
                 prefix=token.prefix, scope=scope, expires_on=expires_on.isoformat() if expires_on else None)
    db.session.commit()
    return token, raw


def tokens(scope: AgencyScope) -> list[ApiToken]:
    """The agency's tokens, live ones first, newest first."""
    return list(db.session.scalars(scope.select(ApiToken).order_by(
        ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())))


def creators(scope: AgencyScope) -> dict[int, str]:
    """{user id: e-mail} of the people who made the agency's tokens (the page's Creator column)."""
    return dict(db.session.execute(sa.select(User.id, User.email).where(
        User.id.in_(scope.select(ApiToken, ApiToken.user_id).scalar_subquery()))).all())


def revoke(scope: AgencyScope, token_id, actor: audit.Actor) -> ApiToken:
    permissions.require(actor, "api_tokens")
    token = scope.get(ApiToken, token_id)
    if token.revoked_at is not None:
        raise Conflict(str(_l("This token was already revoked.")))
    token.revoked_at = utcnow()
    audit.record(actor, "api_token_revoked", agency_id=scope.agency_id, token_id=token.id, name=token.name,
                 prefix=token.prefix)
    db.session.commit()
    return token


def authenticate(raw: str) -> ApiToken | None:
    """The live token for a presented secret, or None. Looked up by hash: the secret is never stored."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(raw)))
    if token is None or token.revoked_at is not None:
        return None
    now = utcnow()
    if expired(token, now):
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        db.session.execute(sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
        db.session.commit()
    return token


def expired(token: ApiToken, now=None) -> bool:
    return token.expires_at is not None and token.expires_at <= (now or utcnow())


def last_day(token: ApiToken) -> date | None:
    """The last day (UTC) the token works, as the person chose it; None when it never expires."""
    return (token.expires_at - timedelta(days=1)).date() if token.expires_at is not None else None


def may_write(token_scope: str) -> bool:
    """A token of scope "read" answers GET only; anything that changes something is refused (403)."""
    return token_scope == "read_write"


def agency_refusal(token: ApiToken) -> str | None:
    """Why the token's agency may not use the API now (suspended by support), or None."""
    agency = db.session.get(Agency, token.agency_id)
    if agency is None or agency.state == "active":
        return None
    if agency.state == "suspended":
        return str(_l("Your agency is suspended: %(reason)s Its API tokens work again once support reactivates it.",
                      reason=agency.state_reason or ""))
    return str(_l("Your agency is not open, so its API tokens do not work."))


def actor_for(token: ApiToken, ip: str | None) -> audit.Actor:
    """Who the audit log says acted, for a request made with this token: the token, with its creator's
    role in the team (never more; a token whose creator left the team can do nothing)."""
    creator = db.session.get(User, token.user_id) if token.user_id else None
    role = creator.team_role if creator is not None and creator.agency_id == token.agency_id else None
    return audit.Actor(f"api_token:{token.id}", f"API token {token.name} ({token.prefix}…)", ip, token.agency_id,
                       team_role=role)


# ---- idempotency keys (X1) --------------------------------------------------------------------------

@dataclass(frozen=True)
class Replay:
    status_code: int
    body: str


def begin_request(token_id: int, key: str, request_hash: str) -> Replay | ApiIdempotencyRecord:
    """Claims `key` for this request, or gives the first answer to replay. Raises Conflict when
    the key was used with another request, or when its first request is still being answered."""
    now = utcnow()
    for _attempt in range(3):
        record = db.session.scalar(sa.select(ApiIdempotencyRecord).where(
            ApiIdempotencyRecord.token_id == token_id, ApiIdempotencyRecord.key == key))
        if record is not None:
            expired = record.created_at < now - IDEMPOTENCY_TTL
            abandoned = record.status_code is None and record.created_at < now - IDEMPOTENCY_PENDING_TIMEOUT
            if expired or abandoned:
                db.session.delete(record)
                db.session.commit()
                continue
            if record.request_hash != request_hash:
                raise Conflict(str(_l("This Idempotency-Key was used with a different request; use a new key.")),
                               {"Idempotency-Key": "reused"})
            if record.status_code is None:
                raise Conflict(str(_l("A request with this Idempotency-Key is still being answered; try again "
                                      "in a moment.")), {"Idempotency-Key": "in_progress"})
            return Replay(record.status_code, record.response_body or "")
        record = ApiIdempotencyRecord(token_id=token_id, key=key, request_hash=request_hash, created_at=now)
        try:
            db.session.add(record)
            db.session.commit()
        except IntegrityError:  # the same key arrived twice at once: look again
            db.session.rollback()
            continue
        return record
    raise Conflict(str(_l("A request with this Idempotency-Key is still being answered; try again in a moment.")),
                   {"Idempotency-Key": "in_progress"})


def finish_request(record_id: int, status_code: int | None, body: str | None) -> None:
    """Keeps the answer for replays; with no status (a server error) the key is freed for a retry."""
    db.session.rollback()
    if status_code is None:
        db.session.execute(sa.delete(ApiIdempotencyRecord).where(ApiIdempotencyRecord.id == record_id))
    else:
        db.session.execute(sa.update(ApiIdempotencyRecord).where(ApiIdempotencyRecord.id == record_id)
                           .values(status_code=status_code, response_body=body))
    db.session.commit()


def purge_idempotency_records() -> int:
    """Answers are replayed for 24 hours; older ones are deleted on the sweeper's passes."""
    result = db.session.execute(sa.delete(ApiIdempotencyRecord).where(
        ApiIdempotencyRecord.created_at < utcnow() - IDEMPOTENCY_TTL))
    db.session.commit()
    return result.rowcount
