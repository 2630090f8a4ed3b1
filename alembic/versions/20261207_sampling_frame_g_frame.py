"""sampling frames of waves: strata, clusters (PSUs) and their weights

Revision ID: g_frame
Revises: g1_report_index
Create Date: 2026-12-07 12:50:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = 'g_frame'
down_revision: Union[str, None] = 'g1_report_index'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('sampling_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wave_id', sa.Integer(), nullable=False),
    sa.Column('stratum', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('cluster', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('weight', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['wave_id'], ['wave.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('wave_id', 'stratum', 'cluster', name='uq_sampling_unit')
    )
    with op.batch_alter_table('sampling_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sampling_unit_wave_id'), ['wave_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sampling_unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sampling_unit_wave_id'))
    op.drop_table('sampling_unit')
