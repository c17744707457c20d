"""Moderator accounts, passwords, dashboard sessions and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_babel import lazy_gettext
from flask_login import current_user, login_required
from sqlalchemy import delete, func, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from .audit_log import audit
from .errors import BadRequest, NotFound, ServiceError
from .extensions import db, login_manager
from .models import ApiToken, Moderator, ModeratorSession, Role

USERNAME_PATTERN = re.compile(r"[\w.\-]{2,64}")
PASSWORD_MIN_LENGTH = 10
TOKEN_PREFIX = "cmt_"
# A session's last use is written at most this often: no write on every click.
SESSION_SEEN_EVERY = timedelta(minutes=1)
# Ended sessions are kept this long (for the account page), then deleted at sign-in.
ENDED_SESSIONS_KEPT = timedelta(days=30)
# An address the account signed in from this recently passes the per-account ceiling.
KNOWN_ADDRESS_DAYS = 30
NEXT_MAX_LENGTH = 2048
# Checked when a name does not exist, so a wrong name costs as long as a wrong
# password: one per hashing method, made with the configured method.
_DUMMY_HASHES: dict[str, str] = {}


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"
    message = lazy_gettext("A valid API token is required.")


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"
    message = lazy_gettext("You do not have permission to do this.")


class WrongPassword(ServiceError):
    status = 403
    code = "wrong_password"
    message = lazy_gettext("The current password is not right.")


class Ended(NamedTuple):
    """What a password change or a sign-out everywhere ended."""

    sessions: int
    tokens: int


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Signed-in admins only; other moderators get a 403."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            raise Forbidden()
        return view(*args, **kwargs)

    return wrapped


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "dashboard.login"
    login_manager.login_message = lazy_gettext("Please sign in.")
    login_manager.session_protection = "strong"


@login_manager.user_loader
def load_moderator(user_id: str) -> Moderator | None:
    """The moderator of the live session the cookie names, else None (signed out)."""
    record = _live_session(user_id)
    if record is None:
        return None
    now = datetime.now(UTC)
    if now - record.last_seen_at > SESSION_SEEN_EVERY:
        record.last_seen_at = now
        db.session.commit()
    record.moderator.session_key = user_id
    return record.moderator


def _live_session(key: str | None) -> ModeratorSession | None:
    """The session record named by ``"<moderator id>:<secret>"`` if it may still be used.

    Not when signed out or ended by a password change, not after a whole
    PERMANENT_SESSION_LIFETIME unused, and never for a disabled account.
    """
    account, _, secret = (key or "").partition(":")
    if not (account.isascii() and account.isdigit() and len(account) <= 10):
        return None
    if not secret or len(secret) > 64:
        return None
    record = db.session.execute(
        select(ModeratorSession).where(ModeratorSession.token_hash == _hash_token(secret))
    ).scalar_one_or_none()
    if record is None or record.moderator_id != int(account) or record.revoked_at is not None:
        return None
    if datetime.now(UTC) - record.last_seen_at > current_app.permanent_session_lifetime:
        return None
    return record if record.moderator.active else None


def _start_session(moderator: Moderator, user_agent: str | None, remote_addr: str | None) -> None:
    """A new session record in the caller's transaction; its key goes in the cookie."""
    now = datetime.now(UTC)
    # Old records of this account go as it signs in: the table stays small without a job.
    db.session.execute(
        delete(ModeratorSession).where(
            ModeratorSession.moderator_id == moderator.id,
            or_(
                ModeratorSession.revoked_at < now - ENDED_SESSIONS_KEPT,
                ModeratorSession.last_seen_at < now - ENDED_SESSIONS_KEPT,
            ),
        )
    )
    secret = secrets.token_urlsafe(32)
    db.session.add(
        ModeratorSession(
            moderator_id=moderator.id,
            token_hash=_hash_token(secret),
            created_at=now,
            last_seen_at=now,
            user_agent=(user_agent or "")[:200] or None,
            remote_addr=(remote_addr or "")[:45] or None,
        )
    )
    moderator.session_key = f"{moderator.id}:{secret}"


def _end_sessions(moderator: Moderator, keep: str | None = None) -> int:
    """End the account's sessions (but ``keep``) in the caller's transaction; how many ended."""
    statement = update(ModeratorSession).where(
        ModeratorSession.moderator_id == moderator.id, ModeratorSession.revoked_at.is_(None)
    )
    kept = _live_session(keep)
    if kept is not None:
        statement = statement.where(ModeratorSession.id != kept.id)
    result = db.session.execute(
        statement.values(revoked_at=datetime.now(UTC)).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def _revoke_tokens(moderator: Moderator) -> int:
    """Revoke the account's API tokens in the caller's transaction; how many were live."""
    now = datetime.now(UTC)
    tokens = db.session.execute(
        select(ApiToken).where(ApiToken.moderator_id == moderator.id, ApiToken.revoked_at.is_(None))
    ).scalars()
    count = 0
    for token in tokens:
        token.revoked_at = now
        count += 1
    return count


def end_session(key: str | None) -> None:
    """Sign-out: the session named by the cookie ends, so no copy of the cookie works."""
    record = _live_session(key)
    if record is not None:
        record.revoked_at = datetime.now(UTC)
        audit("logout", record.moderator)
        db.session.commit()


def end_other_sessions(moderator: Moderator, keep: str | None) -> int:
    """Sign out everywhere else: every session of the account but ``keep`` ends."""
    ended = _end_sessions(moderator, keep=keep)
    audit("sessions_end", moderator, detail={"sessions": ended})
    db.session.commit()
    return ended


def list_sessions(moderator: Moderator) -> list[ModeratorSession]:
    """The account's sessions that still work, most recently used first."""
    since = datetime.now(UTC) - current_app.permanent_session_lifetime
    return list(
        db.session.execute(
            select(ModeratorSession)
            .where(
                ModeratorSession.moderator_id == moderator.id,
                ModeratorSession.revoked_at.is_(None),
                ModeratorSession.last_seen_at > since,
            )
            .order_by(ModeratorSession.last_seen_at.desc(), ModeratorSession.id.desc())
        ).scalars()
    )


def session_id(key: str | None) -> int | None:
    """The record id of the session a cookie names (to mark "this browser" in the list)."""
    record = _live_session(key)
    return record.id if record is not None else None


def known_address(username: str, remote_addr: str | None) -> bool:
    """Whether the named account signed in from this address in the last 30 days.

    Such an address passes the per-account sign-in ceiling, so strangers'
    failures cannot lock the moderator out of their usual places. The answer
    for a name that does not exist is simply False, like for any stranger.
    """
    if not username or not remote_addr:
        return False
    since = datetime.now(UTC) - timedelta(days=KNOWN_ADDRESS_DAYS)
    found = db.session.execute(
        select(ModeratorSession.id)
        .join(Moderator, Moderator.id == ModeratorSession.moderator_id)
        .where(
            func.lower(Moderator.username) == username.lower(),
            ModeratorSession.remote_addr == remote_addr,
            ModeratorSession.created_at > since,
        )
        .limit(1)
    ).first()
    return found is not None


def find_moderator(username: str) -> Moderator | None:
    return db.session.execute(
        select(Moderator).where(Moderator.username == username)
    ).scalar_one_or_none()


def hash_password(password: str) -> str:
    """The stored form of a password, by the configured method (scrypt by default)."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash("not a real password", method=method)
    return _DUMMY_HASHES[method]


def check_password_strength(password: str) -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise BadRequest(
            lazy_gettext(
                "The password must have at least %(min)d characters.", min=PASSWORD_MIN_LENGTH
            )
        )


def add_moderator(
    username: str, password: str, admin: bool = False, by: Moderator | None = None
) -> Moderator:
    """Create a moderator (or admin) account."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise BadRequest(lazy_gettext("User names are 2 to 64 letters, digits, '_', '.' or '-'."))
    if find_moderator(username) is not None:
        raise BadRequest(lazy_gettext("That user name is taken."))
    check_password_strength(password)
    moderator = Moderator(
        username=username,
        password_hash=hash_password(password),
        role=Role.ADMIN if admin else Role.MODERATOR,
    )
    db.session.add(moderator)
    db.session.flush()
    audit("moderator_add", by, detail={"username": username, "role": moderator.role.value})
    db.session.commit()
    return moderator


def _get(username: str) -> Moderator:
    moderator = find_moderator(username)
    if moderator is None:
        raise NotFound(lazy_gettext("No such moderator."))
    return moderator


def set_password(username: str, password: str, by: Moderator | None = None) -> Ended:
    """An admin's (or the operator's) reset: every session and every API token of the account ends.

    A reset is what is done when a password is forgotten, passed on or stolen;
    in each case whatever was signed in with the old one must stop. Moderators
    change their own password with ``change_own_password``.
    """
    moderator = _get(username)
    if by is not None and by.id == moderator.id:
        raise BadRequest(lazy_gettext("Change your own password on your account page."))
    check_password_strength(password)
    moderator.password_hash = hash_password(password)
    ended = Ended(sessions=_end_sessions(moderator), tokens=_revoke_tokens(moderator))
    audit("moderator_password", by, detail={"username": username, **ended._asdict()})
    db.session.commit()
    return ended


def change_own_password(
    moderator: Moderator,
    current: str,
    new: str,
    keep: str | None,
    revoke_tokens: bool = False,
) -> Ended:
    """A moderator's own change: this session stays, the account's other sessions end.

    API tokens stay unless asked: they are separate credentials of CMS
    integrations, each listed and revocable under "API tokens", and a routine
    change should not break publishing.
    """
    if not check_password_hash(moderator.password_hash, current):
        raise WrongPassword()
    check_password_strength(new)
    moderator.password_hash = hash_password(new)
    ended = Ended(
        sessions=_end_sessions(moderator, keep=keep),
        tokens=_revoke_tokens(moderator) if revoke_tokens else 0,
    )
    audit("password_change", moderator, detail=ended._asdict())
    db.session.commit()
    return ended


def set_active(username: str, active: bool, by: Moderator | None = None) -> None:
    moderator = _get(username)
    moderator.active = active
    # A disabled moderator's sessions and tokens end for good: enabling the
    # account again does not bring them back.
    if not active:
        _end_sessions(moderator)
        _revoke_tokens(moderator)
    audit("moderator_enable" if active else "moderator_disable", by, detail={"username": username})
    db.session.commit()


def set_role(username: str, role: Role, by: Moderator | None = None) -> None:
    moderator = _get(username)
    moderator.role = role
    audit("moderator_role", by, detail={"username": username, "role": role.value})
    db.session.commit()


def list_moderators() -> list[Moderator]:
    return list(db.session.execute(select(Moderator).order_by(Moderator.username)).scalars())


def authenticate(
    username: str,
    password: str,
    user_agent: str | None = None,
    remote_addr: str | None = None,
) -> Moderator | None:
    """The active moderator with these credentials, signed in to a new session, else None.

    Same cost either way. The returned moderator's ``get_id()`` names the new
    session record, for Flask-Login to keep in the cookie.
    """
    moderator = find_moderator(username)
    if moderator is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(moderator.password_hash, password) or not moderator.active:
        return None
    moderator.last_login_at = datetime.now(UTC)
    _start_session(moderator, user_agent, remote_addr)
    audit("login", moderator)
    db.session.commit()
    return moderator


def _unsafe_in_path(char: str) -> bool:
    # Controls, invisible format characters (bidi overrides, zero widths) and any
    # whitespace: a browser drops or rereads them, or a header refuses them.
    return char == "\\" or char.isspace() or unicodedata.category(char)[0] in "CZ"


def safe_next(target: str | None) -> str | None:
    """A path on this service to go back to, else None.

    A "/" not followed by another "/"; no scheme, no host, no backslash, and no
    control, format or space character anywhere (browsers drop some of them, so
    "/<tab>/evil.example" would read as "//evil.example"); at most 2048 characters.
    """
    if not target or len(target) > NEXT_MAX_LENGTH or not target.startswith("/"):
        return None
    if target.startswith("//") or any(_unsafe_in_path(char) for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(moderator: Moderator, name: str, by: Moderator | None = None) -> str:
    """A new API token for a moderator; the plain token is returned once, only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(
        ApiToken(
            moderator_id=moderator.id,
            name=(name or "API").strip()[:64] or "API",
            token_hash=_hash_token(token),
            prefix=token[:10],
        )
    )
    audit("token_create", by or moderator, detail={"username": moderator.username, "name": name})
    db.session.commit()
    return token


def list_tokens(moderator: Moderator) -> list[ApiToken]:
    return list(
        db.session.execute(
            select(ApiToken)
            .where(ApiToken.moderator_id == moderator.id)
            .order_by(ApiToken.created_at.desc())
        ).scalars()
    )


def revoke_token(token_id: int, by: Moderator) -> None:
    token = db.session.get(ApiToken, token_id)
    if token is None or (token.moderator_id != by.id and not by.is_admin):
        raise NotFound(lazy_gettext("No such token."))
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        audit("token_revoke", by, detail={"prefix": token.prefix})
        db.session.commit()


def moderator_for_token(header: str | None) -> Moderator:
    """The moderator behind an ``Authorization: Bearer ...`` header, else Unauthorized."""
    if not header or not header.startswith("Bearer "):
        raise Unauthorized()
    token = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == _hash_token(header[7:].strip()))
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None or not token.moderator.active:
        raise Unauthorized()
    # Record use at most once a minute: no write transaction on every CMS call.
    now = datetime.now(UTC)
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
        db.session.commit()
    return token.moderator
