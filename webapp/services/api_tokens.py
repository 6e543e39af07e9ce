"""S2, X1: the agency's API tokens and the idempotency records of API requests.

A token is shown once, when it is made; the database keeps only its SHA-256 and its first
characters (to tell tokens apart). Tokens belong to the agency: its Owners and Admins make and revoke
them (services/permissions.py), and a token acts with its creator's role."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

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


def create(user: User, name: str, actor: audit.Actor) -> tuple[ApiToken, str]:
    """A new token of the user's agency: the row, and the raw token to show once."""
    permissions.require(actor, "api_tokens")
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed(str(_l("Give the token a name.")), {"name": str(_l("Give the token a name."))})
    if len(name) > NAME_MAX or not name.isprintable():
        problem = str(_l("Use at most %(n)s printable characters.", n=NAME_MAX))
        raise ValidationFailed(problem, {"name": problem})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(agency_id=user.agency_id, user_id=user.id, name=name, prefix=raw[:PREFIX_LENGTH],
                     token_hash=hash_token(raw))
    db.session.add(token)
    db.session.flush()
    audit.record(actor, "api_token_created", agency_id=user.agency_id, token_id=token.id, name=name,
                 prefix=token.prefix)
    db.session.commit()
    return token, raw


def tokens(scope: AgencyScope) -> list[ApiToken]:
    """The agency's tokens, live ones first, newest first."""
    return list(db.session.scalars(scope.select(ApiToken).order_by(
        ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())))


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
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        db.session.execute(sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
        db.session.commit()
    return token


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
