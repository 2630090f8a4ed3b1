"""OpenRosa (ODK Collect): per-user Digest credentials and the files sent with interviews

Revision ID: j1_openrosa
Revises: i1_user_language
Create Date: 2026-12-07 15:10:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'j1_openrosa'
down_revision: Union[str, None] = 'i1_user_language'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "openrosa_credential",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("realm", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("ha1", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("set_by_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_table(
        "submission_attachment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("submission_id", sa.Integer(), sa.ForeignKey("submission.id", ondelete="CASCADE"), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("storage_name", sa.String(length=80), nullable=False),
        sa.Column("file_type", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.UniqueConstraint("submission_id", "filename", name="uq_submission_attachment"),
    )
    op.create_index("ix_submission_attachment_submission_id", "submission_attachment", ["submission_id"])


def downgrade() -> None:
    op.drop_index("ix_submission_attachment_submission_id", table_name="submission_attachment")
    op.drop_table("submission_attachment")
    op.drop_table("openrosa_credential")
