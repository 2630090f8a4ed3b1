"""surveys

Revision ID: b1_surveys
Revises: a1c0_accounts
Create Date: 2026-11-23 14:14:23.992770
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = 'b1_surveys'
down_revision: Union[str, None] = 'a1c0_accounts'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('survey',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.Column('analysis_scope', sa.Enum('approved', 'non_rejected', name='analysisscope', native_enum=False, length=20), nullable=False),
    sa.Column('dont_know_threshold', sa.Float(), nullable=False),
    sa.Column('min_seconds_per_answer', sa.Float(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('instrument_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('survey_id', 'version', name='uq_instrument_version')
    )
    with op.batch_alter_table('instrument_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instrument_version_survey_id'), ['survey_id'], unique=False)

    op.create_table('submission_conflict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('enumerator_id', sa.Integer(), nullable=True),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('resolved', sa.Boolean(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['enumerator_id'], ['user_account.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('submission_conflict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_conflict_uuid'), ['uuid'], unique=False)

    op.create_table('wave',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('kind', sa.Enum('baseline', 'midline', 'endline', 'pre', 'post', name='wavekind', native_enum=False, length=20), nullable=False),
    sa.Column('design', sa.Enum('independent', 'panel', name='wavedesign', native_enum=False, length=20), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('is_open', sa.Boolean(), nullable=False),
    sa.Column('notes', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('survey_id', 'name', name='uq_wave_name')
    )
    with op.batch_alter_table('wave', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wave_survey_id'), ['survey_id'], unique=False)

    op.create_table('submission',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('wave_id', sa.Integer(), nullable=False),
    sa.Column('instrument_version_id', sa.Integer(), nullable=False),
    sa.Column('enumerator_id', sa.Integer(), nullable=True),
    sa.Column('enumerator_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('status', sa.Enum('received', 'has_issues', 'approved', 'rejected', name='submissionstatus', native_enum=False, length=20), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('ended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=35), nullable=False),
    sa.Column('segment', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('cluster', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('stratum', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('respondent_code', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('arm', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('sex', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('age_group', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('review_comment', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['enumerator_id'], ['user_account.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['instrument_version_id'], ['instrument_version.id'], ),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['user_account.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['wave_id'], ['wave.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.create_index('ix_submission_enumerator', ['enumerator_id', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_submission_instrument_version_id'), ['instrument_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_submission_respondent_code'), ['respondent_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_submission_segment'), ['segment'], unique=False)
        batch_op.create_index('ix_submission_survey_wave_status', ['survey_id', 'wave_id', 'status'], unique=False)

    op.create_table('submission_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('design', sa.JSON(), nullable=False),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['changed_by_id'], ['user_account.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['submission_id'], ['submission.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('submission_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_revision_submission_id'), ['submission_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('submission_revision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_revision_submission_id'))

    op.drop_table('submission_revision')
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_index('ix_submission_survey_wave_status')
        batch_op.drop_index(batch_op.f('ix_submission_segment'))
        batch_op.drop_index(batch_op.f('ix_submission_respondent_code'))
        batch_op.drop_index(batch_op.f('ix_submission_instrument_version_id'))
        batch_op.drop_index('ix_submission_enumerator')

    op.drop_table('submission')
    with op.batch_alter_table('wave', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wave_survey_id'))

    op.drop_table('wave')
    with op.batch_alter_table('submission_conflict', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_conflict_uuid'))

    op.drop_table('submission_conflict')
    with op.batch_alter_table('instrument_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instrument_version_survey_id'))

    op.drop_table('instrument_version')
    op.drop_table('survey')
