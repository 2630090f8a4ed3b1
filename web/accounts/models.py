"""Tables for users, their sessions and tokens, login attempts and the audit log."""

from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import JSON, Column, Enum, Index, String
from sqlmodel import Field, SQLModel

from web.i18n import N_

__all__ = [
    "AuditEvent",
    "AuditEventPublic",
    "AuthSession",
    "LoginAttempt",
    "Role",
    "User",
    "UserCreate",
    "UserPublic",
    "UserUpdate",
    "utcnow",
]


def utcnow() -> datetime:
    """Timezone-aware now in UTC (SQLModel stores and returns aware UTC datetimes)."""
    return datetime.now(timezone.utc)


class Role(str, enum.Enum):
    admin = "admin"
    communications = "communications"
    enumerator = "enumerator"
    supervisor = "supervisor"
    lead = "lead"

    @property
    def label(self) -> str:
        """The role's name in the current interface language."""
        from web.i18n import gettext  # noqa: PLC0415

        return gettext(ROLE_LABELS[self])


ROLE_LABELS = {
    Role.admin: N_("Administrator"),
    Role.communications: N_("Communications"),
    Role.enumerator: N_("Enumerator"),
    Role.supervisor: N_("Supervisor"),
    Role.lead: N_("Programme lead"),
}


# Shared fields of a user, as entered by an admin.
class UserBase(SQLModel):
    # pydantic 2 ignores SQLModel's ``regex=``: the pattern must go through schema_extra to be enforced.
    username: str = Field(min_length=2, max_length=64, schema_extra={"pattern": r"^[A-Za-z0-9._@-]+$"})
    full_name: str = Field(default="", max_length=120)
    email: str = Field(default="", max_length=254)
    role: Role


# Body of a user creation (API and admin form).
class UserCreate(UserBase):
    password: str = Field(min_length=10, max_length=256)


# Body of a partial update by an admin.
class UserUpdate(SQLModel):
    full_name: str | None = Field(default=None, max_length=120)
    email: str | None = Field(default=None, max_length=254)
    role: Role | None = None
    is_active: bool | None = None


# The stored user.
class User(UserBase, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    role: Role = Field(sa_column=Column(
        Enum(Role, native_enum=False, length=20, values_callable=lambda roles: [r.value for r in roles]), nullable=False))
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    # Bumped on password change or deactivation: every older session and token stops working.
    auth_epoch: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    password_changed_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None
    # The interface language (web.i18n.LOCALES); None follows the browser's Accept-Language.
    language: str | None = Field(default=None, max_length=5)


# What the API returns for a user (never the hash).
class UserPublic(UserBase):
    id: int
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    language: str | None = None


# A browser session or an API token; only the SHA-256 of the secret is stored.
class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    kind: str = Field(max_length=10)  # "browser" or "api"
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    auth_epoch: int
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


# One try at logging in, successful or not.
class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_username_at", "username", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    success: bool
    reason: str = Field(default="", max_length=40)
    ip: str = Field(default="", max_length=64)
    channel: str = Field(default="browser", max_length=10)
    at: datetime = Field(default_factory=utcnow)


# Who did what to which record, and when.
class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_entity", "entity_type", "entity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    actor_name: str = Field(default="", max_length=64)
    action: str = Field(max_length=60, index=True)
    entity_type: str = Field(default="", max_length=40)
    entity_id: str = Field(default="", max_length=64)
    summary: str = Field(default="", max_length=500)
    details: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    ip: str = Field(default="", max_length=64)


# What the API returns for an audit event.
class AuditEventPublic(SQLModel):
    id: int
    at: datetime
    actor_name: str
    action: str
    entity_type: str
    entity_id: str
    summary: str
    details: dict
