"""analysis scores and cache

Revision ID: e1_analysis
Revises: c1_content
Create Date: 2026-11-23 15:29:51.950525
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = 'e1_analysis'
down_revision: Union[str, None] = 'c1_content'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('analysis_cache',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('params_key', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('computed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('params_key')
    )
    with op.batch_alter_table('analysis_cache', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analysis_cache_survey_id'), ['survey_id'], unique=False)

    op.create_table('submission_score',
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('key_digest', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('scores', sa.LargeBinary(), nullable=False),
    sa.Column('scored_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['submission.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('submission_id')
    )


def downgrade() -> None:
    op.drop_table('submission_score')
    with op.batch_alter_table('analysis_cache', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analysis_cache_survey_id'))

    op.drop_table('analysis_cache')
