"""a wave's target sample size: the interviews its fieldwork aims at

Nullable: a wave without one shows its fieldwork progress against the power calculation's
inputs given on the page.

Revision ID: l1_wave_target
Revises: k1_review_index
Create Date: 2026-12-08 00:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'l1_wave_target'
down_revision: Union[str, None] = 'k1_review_index'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("wave") as batch:
        batch.add_column(sa.Column("target_sample", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wave") as batch:
        batch.drop_column("target_sample")
