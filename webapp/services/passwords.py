"""Password hashing (argon2id) and the strength rules every password form shares."""
from __future__ import annotations

import secrets
import string
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l

_hashers: dict[tuple, PasswordHasher] = {}

MIN_LENGTH = 12
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 30 000 passwords seen most often in leaks (webapp/data, from zxcvbn; ASVS 6.2), lower-cased,
    and a few French ones people here pick."""
    words = {line.strip().lower() for line in COMMON_PASSWORDS_FILE.read_text().splitlines() if line.strip()}
    return frozenset(words | {"motdepasse", "motdepasse123", "azertyuiop", "azertyuiop123"})


# Key stretching protects the passwords people choose. A password we generate (16 characters from 56,
# about 93 bits) cannot be guessed however cheap one try is, so it is hashed at a far lower cost: at
# full cost every trial created would spend a quarter of a CPU second on it (see bench/load).
FULL_COST = (3, 65536, 4)  # argon2id t=3, 64 MiB, 4 lanes: ~250 ms of CPU here
GENERATED_COST = (1, 8192, 1)  # t=1, 8 MiB, 1 lane: ~7 ms


def _hasher(setting: str = "ARGON2_PARAMS", default: tuple = FULL_COST) -> PasswordHasher:
    params = tuple(current_app.config.get(setting, default))
    if params not in _hashers:
        t, m, p = params
        _hashers[params] = PasswordHasher(time_cost=t, memory_cost=m, parallelism=p)
    return _hashers[params]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def hash_generated_password(password: str) -> str:
    """The hash of a password made by `generate_password`, never of one a person chose."""
    return _hasher("GENERATED_ARGON2_PARAMS", GENERATED_COST).hash(password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker settings than today's (a sign-in then hashes it again)."""
    try:
        return _hasher().check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return False


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Spend the same time as a real check so an unknown user is not told apart by timing.
        _burn(password)
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY: dict[tuple, str] = {}


def _dummy_hash() -> str:
    params = tuple(current_app.config.get("ARGON2_PARAMS", FULL_COST))
    if params not in _DUMMY:
        _DUMMY[params] = _hasher().hash(secrets.token_hex(16))
    return _DUMMY[params]


def _burn(password: str) -> None:
    try:
        _hasher().verify(_dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        pass


def password_problem(password: str, *, identity: str = "") -> str | None:
    """Why a new password is refused, or None when it is good enough."""
    if len(password) < MIN_LENGTH:
        return _l("Use at least %(n)s characters.", n=MIN_LENGTH)
    if len(password) > 200:
        return _l("Use at most 200 characters.")
    if len(set(password)) < 4:
        return _l("Use more different characters.")
    if password.lower() in common_passwords() or password.lower().rstrip("0123456789!.") in common_passwords():
        return _l("This password is too common: it is in the lists of leaked passwords. Choose another.")
    if identity and identity.lower().split("@")[0] in password.lower() and len(identity) >= 4:
        return _l("Do not put your username or e-mail in the password.")
    return None


def generate_password(length: int = 16) -> str:
    """A password to hand to a client: letters and digits, no look-alikes."""
    alphabet = "".join(c for c in string.ascii_letters + string.digits if c not in "Il1O0o")
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in pw) and any(c.isupper() for c in pw) and any(c.islower() for c in pw):
            return pw
