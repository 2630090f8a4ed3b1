"""Tables of the OpenRosa server (ODK Collect as a client): per-user Digest credentials and the
files a phone sends with an interview.

See :mod:`surveys.openrosa` for the protocol and :mod:`web.routes.openrosa` for the routes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from web.accounts.models import utcnow

__all__ = ["OpenRosaCredential", "SubmissionAttachment", "SubmissionAttachmentPublic"]


# A user's ODK Collect password, kept as the Digest HA1 = MD5(username:realm:password): what RFC 7616
# Digest needs to verify a response (an Argon2 hash cannot). It is a secret equal in power to the ODK
# password for this realm only; it never unlocks the web login, whose password stays Argon2-hashed.
# A deactivated user is refused whatever the credential; a role change applies at once.
class OpenRosaCredential(SQLModel, table=True):
    __tablename__ = "openrosa_credential"

    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    realm: str = Field(max_length=120)
    ha1: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    set_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")


# A file that came with an interview (photo, audio, signature), stored by checksum like content
# attachments (content.storage); ``filename`` is the name the instance XML gives it.
class SubmissionAttachment(SQLModel, table=True):
    __tablename__ = "submission_attachment"
    __table_args__ = (UniqueConstraint("submission_id", "filename", name="uq_submission_attachment"),)

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True, ondelete="CASCADE")
    filename: str = Field(max_length=255)
    storage_name: str = Field(sa_column=Column(String(80), nullable=False))
    file_type: str = Field(max_length=10)  # key of content.rules.FILE_TYPES
    content_type: str = Field(max_length=100)
    size: int
    received_at: datetime = Field(default_factory=utcnow)


# What the API shows of an attachment.
class SubmissionAttachmentPublic(SQLModel):
    filename: str
    file_type: str
    content_type: str
    size: int
    received_at: datetime
