"""Accounts: users, passwords, sessions and tokens, login throttling, the audit log.

Services take a ``Session`` and keyword-only arguments and never commit: the
route or command that owns the unit of work commits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from ..i18n import gettext, ngettext
from ..db import insert_now
from .models import AuditEvent, AuthSession, LoginAttempt, Role, User, UserCreate, UserUpdate, utcnow

__all__ = [
    "AccountError",
    "LoginRefused",
    "authenticate",
    "change_own_password",
    "create_user",
    "end_session",
    "hash_password",
    "list_audit",
    "record_audit",
    "resolve_token",
    "set_password",
    "start_session",
    "update_user",
]

_hasher = PasswordHasher()
# Verified against when the user name is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("konbit-timing-equaliser")

MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; ``field`` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class LoginRefused(AccountError):
    """Wrong credentials, an inactive account, or too many failures."""

    def __init__(self, message: str, *, reason: str, retry_after: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password_strength(password: str, *, username: str = "") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(gettext("The password must have at least %(num)d characters.", num=MIN_PASSWORD_LENGTH), field="password")
    if len(password) > 256:
        raise AccountError(gettext("The password must have at most 256 characters."), field="password")
    if username and password.lower() == username.lower():
        raise AccountError(gettext("The password must not be the user name."), field="password")


# --- Audit -----------------------------------------------------------------------------


def record_audit(
    *,
    session: Session,
    actor: User | None,
    action: str,
    entity_type: str = "",
    entity_id: object = "",
    summary: str = "",
    details: dict | None = None,
    ip: str = "",
    actor_name: str | None = None,
) -> AuditEvent:
    """Add one audit event: inserted at once, committed or rolled back with the caller's transaction."""
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_name=actor_name if actor_name is not None else (actor.username if actor else ""),
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id not in (None, "") else "",
        summary=summary[:500],
        details=details or {},
        ip=ip[:64],
    )
    insert_now(session, event)
    return event


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_audit(
    *,
    session: Session,
    actor: str = "",
    action: str = "",
    entity_type: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> AuditPage:
    """Audit events, newest first, filtered by actor name, action prefix, entity type and time."""
    conditions = []
    if actor:
        conditions.append(col(AuditEvent.actor_name) == actor)
    if action:
        conditions.append(col(AuditEvent.action).startswith(action, autoescape=True))  # "_" and "%" are literal
    if entity_type:
        conditions.append(col(AuditEvent.entity_type) == entity_type)
    if since:
        conditions.append(col(AuditEvent.at) >= since)
    if until:
        conditions.append(col(AuditEvent.at) < until)
    total = session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one()
    page = max(1, page)
    rows = session.exec(
        select(AuditEvent)
        .where(*conditions)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return AuditPage(events=list(rows), total=total, page=page, per_page=per_page)


# --- Users -----------------------------------------------------------------------------


def get_user_by_username(*, session: Session, username: str) -> User | None:
    return session.exec(select(User).where(func.lower(User.username) == username.strip().lower())).first()


def create_user(*, session: Session, user_create: UserCreate, actor: User | None, ip: str = "") -> User:
    if get_user_by_username(session=session, username=user_create.username):
        raise AccountError(f"The user name {user_create.username!r} is already taken.", field="username")
    check_password_strength(user_create.password, username=user_create.username)
    user = User.model_validate(user_create, update={"password_hash": hash_password(user_create.password)})
    session.add(user)
    session.flush()
    record_audit(
        session=session,
        actor=actor,
        action="user.create",
        entity_type="user",
        entity_id=user.id,
        summary=f"Created user {user.username} ({user.role.value})",
        details={"role": user.role.value},
        ip=ip,
    )
    return user


def update_user(*, session: Session, user: User, user_update: UserUpdate, actor: User, ip: str = "") -> User:
    changes = {}
    data = user_update.model_dump(exclude_unset=True, exclude_none=True)
    if actor.id == user.id and (data.get("is_active") is False or data.get("role", user.role) != user.role):
        raise AccountError("You cannot deactivate yourself or change your own role.", field="role")
    for name, value in data.items():
        old = getattr(user, name)
        if old != value:
            changes[name] = [old.value if isinstance(old, Role) else old, value.value if isinstance(value, Role) else value]
            setattr(user, name, value)
    if not changes:
        return user
    if "is_active" in changes or "role" in changes:
        _revoke_sessions(session=session, user=user)
    session.add(user)
    record_audit(
        session=session,
        actor=actor,
        action="user.update",
        entity_type="user",
        entity_id=user.id,
        summary=f"Changed {', '.join(changes)} of {user.username}",
        details=changes,
        ip=ip,
    )
    return user


def _revoke_sessions(*, session: Session, user: User) -> None:
    user.auth_epoch += 1
    session.exec(delete(AuthSession).where(col(AuthSession.user_id) == user.id))  # type: ignore[call-overload]


def set_password(*, session: Session, user: User, password: str, actor: User, ip: str = "") -> None:
    """An admin resets ``user``'s password; every session of the user ends."""
    check_password_strength(password, username=user.username)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    _revoke_sessions(session=session, user=user)
    session.add(user)
    action = "user.password_change" if actor.id == user.id else "user.password_reset"
    record_audit(
        session=session, actor=actor, action=action, entity_type="user", entity_id=user.id,
        summary=f"Password of {user.username} {'changed' if actor.id == user.id else 'reset'}", ip=ip,
    )


def change_own_password(*, session: Session, user: User, current: str, new: str, confirm: str, ip: str = "") -> None:
    if not _verify(user.password_hash, current):
        raise AccountError(gettext("The current password is not right."), field="current_password")
    if new != confirm:
        raise AccountError(gettext("The two new passwords differ."), field="confirm_password")
    if new == current:
        raise AccountError(gettext("The new password must differ from the current one."), field="new_password")
    set_password(session=session, user=user, password=new, actor=user, ip=ip)


# --- Logging in ------------------------------------------------------------------------


def authenticate(
    *, session: Session, username: str, password: str, ip: str, channel: str,
    max_failures: int, lockout_seconds: int,
) -> User:
    """Check credentials, throttle repeated failures, and record the attempt.

    Locking is per user name: ``max_failures`` failures within ``lockout_seconds``
    refuse further attempts (even right ones) until the window has passed.
    The attempt row is added to the session; the caller commits it whatever the outcome.
    """
    username = username.strip()[:64]
    now = utcnow()
    window_start = now - timedelta(seconds=lockout_seconds)
    recent_failures = session.exec(
        select(LoginAttempt.at)
        .where(func.lower(LoginAttempt.username) == username.lower(), LoginAttempt.success == False)  # noqa: E712
        # Refusals while locked are recorded but not counted: else each one extends the lock and Retry-After lies.
        .where(col(LoginAttempt.at) >= window_start, LoginAttempt.reason != "locked")
        .order_by(col(LoginAttempt.at).desc())
    ).all()

    def refuse(message: str, reason: str, retry_after: int | None = None) -> LoginRefused:
        session.add(LoginAttempt(username=username, success=False, reason=reason, ip=ip, channel=channel, at=now))
        return LoginRefused(message, reason=reason, retry_after=retry_after)

    if len(recent_failures) >= max_failures:
        oldest_counted = recent_failures[max_failures - 1]
        retry = int((oldest_counted + timedelta(seconds=lockout_seconds) - now).total_seconds()) + 1
        minutes = max(1, -(-retry // 60))
        raise refuse(
            ngettext("Too many failed attempts for this account. Try again in %(num)d minute.",
                     "Too many failed attempts for this account. Try again in %(num)d minutes.", minutes),
            "locked", retry,
        )
    user = get_user_by_username(session=session, username=username) if username else None
    if user is None:
        _verify(_DUMMY_HASH, password)
        raise refuse(gettext("Unknown user name or wrong password."), "unknown_user")
    if not _verify(user.password_hash, password):
        raise refuse(gettext("Unknown user name or wrong password."), "bad_password")
    if not user.is_active:
        raise refuse(gettext("This account has been deactivated. Ask an administrator."), "inactive")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    session.add(user)
    session.add(LoginAttempt(username=user.username, success=True, ip=ip, channel=channel, at=now))
    record_audit(session=session, actor=user, action="auth.login", entity_type="user", entity_id=user.id,
                 summary=f"{user.username} logged in ({channel})", ip=ip)
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(*, session: Session, user: User, kind: str, max_age: int) -> tuple[str, AuthSession]:
    """Open a browser session or API token for ``user``; returns (secret token, row)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = AuthSession(
        token_hash=_digest(token), kind=kind, user_id=user.id, auth_epoch=user.auth_epoch,
        csrf_token=secrets.token_urlsafe(32), created_at=now, last_seen_at=now,
        expires_at=now + timedelta(seconds=max_age),
    )
    session.add(row)
    session.flush()
    return token, row


def resolve_token(
    *, session: Session, token: str, kind: str, idle_timeout: int | None = None
) -> tuple[User, AuthSession] | None:
    """The user and session behind ``token``, or None if unknown, expired, idle too long or revoked."""
    found = session.exec(select(AuthSession, User).join(User, col(User.id) == AuthSession.user_id)
                         .where(AuthSession.token_hash == _digest(token), AuthSession.kind == kind)).first()
    if found is None:
        return None
    row, user = found
    now = utcnow()
    expired = row.expires_at <= now or (idle_timeout is not None and row.last_seen_at + timedelta(seconds=idle_timeout) <= now)
    if not user.is_active or user.auth_epoch != row.auth_epoch or expired:
        session.delete(row)
        return None
    if (now - row.last_seen_at).total_seconds() > 60:
        row.last_seen_at = now
        session.add(row)
    return user, row


def end_session(*, session: Session, token: str) -> None:
    session.exec(delete(AuthSession).where(col(AuthSession.token_hash) == _digest(token)))  # type: ignore[call-overload]


def purge_expired_sessions(*, session: Session) -> int:
    result = session.exec(delete(AuthSession).where(col(AuthSession.expires_at) <= utcnow()))  # type: ignore[call-overload]
    return result.rowcount or 0
