"""content

Revision ID: c1_content
Revises: b1_surveys
Create Date: 2026-11-23 14:20:50.738444
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = 'c1_content'
down_revision: Union[str, None] = 'b1_surveys'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('content_setting',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('content_variable',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('sample', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('longest', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('content_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('storage_name', sa.String(length=80), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('file_type', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('storage_name')
    )
    with op.batch_alter_table('content_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_content_attachment_sha256'), ['sha256'], unique=False)

    op.create_table('content_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('objective', sa.Text(), nullable=False),
    sa.Column('themes', sa.JSON(), nullable=False),
    sa.Column('segments', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'in_review', 'approved', 'retired', name='messagestatus', native_enum=False, length=20), nullable=False),
    sa.Column('current_version_id', sa.Integer(), nullable=True),
    sa.Column('approved_version_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uid')
    )
    with op.batch_alter_table('content_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_content_message_status'), ['status'], unique=False)

    op.create_table('content_message_survey_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('item_code', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['content_message.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id', 'survey_id', 'item_code', name='uq_content_message_survey_item')
    )
    with op.batch_alter_table('content_message_survey_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_content_message_survey_item_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_content_message_survey_item_survey_id'), ['survey_id'], unique=False)

    op.create_table('content_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('objective', sa.Text(), nullable=False),
    sa.Column('themes', sa.JSON(), nullable=False),
    sa.Column('segments', sa.JSON(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_by_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['content_message.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id', 'number', name='uq_content_version_number')
    )
    with op.batch_alter_table('content_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_content_version_message_id'), ['message_id'], unique=False)

    # A message points at its latest and its approved version, which point back at it:
    # these two keys can only be added once both tables exist.
    with op.batch_alter_table('content_message', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_content_message_current_version', 'content_version',
                                    ['current_version_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key('fk_content_message_approved_version', 'content_version',
                                    ['approved_version_id'], ['id'], ondelete='SET NULL')

    op.create_table('content_transition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('version_number', sa.Integer(), nullable=True),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['content_message.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['content_version.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('content_transition', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_content_transition_message_id'), ['message_id'], unique=False)

    op.create_table('content_variant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=35), nullable=False),
    sa.Column('channel', sa.Enum('sms', 'radio', 'social', 'email', 'briefing', name='channel', native_enum=False, length=10), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('target_seconds', sa.Integer(), nullable=True),
    sa.Column('alt_text', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['content_version.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('version_id', 'language', 'channel', 'platform', name='uq_content_variant')
    )
    with op.batch_alter_table('content_variant', schema=None) as batch_op:
        batch_op.create_index('ix_content_variant_language_channel', ['language', 'channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_content_variant_version_id'), ['version_id'], unique=False)

    op.create_table('content_variant_attachment',
    sa.Column('variant_id', sa.Integer(), nullable=False),
    sa.Column('attachment_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['attachment_id'], ['content_attachment.id'], ),
    sa.ForeignKeyConstraint(['variant_id'], ['content_variant.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('variant_id', 'attachment_id')
    )
    with op.batch_alter_table('content_variant_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_content_variant_attachment_attachment_id'), ['attachment_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('content_variant_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_content_variant_attachment_attachment_id'))

    op.drop_table('content_variant_attachment')
    with op.batch_alter_table('content_variant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_content_variant_version_id'))
        batch_op.drop_index('ix_content_variant_language_channel')

    op.drop_table('content_variant')
    with op.batch_alter_table('content_transition', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_content_transition_message_id'))

    op.drop_table('content_transition')
    with op.batch_alter_table('content_message', schema=None) as batch_op:
        batch_op.drop_constraint('fk_content_message_approved_version', type_='foreignkey')
        batch_op.drop_constraint('fk_content_message_current_version', type_='foreignkey')
    with op.batch_alter_table('content_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_content_version_message_id'))

    op.drop_table('content_version')
    with op.batch_alter_table('content_message_survey_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_content_message_survey_item_survey_id'))
        batch_op.drop_index(batch_op.f('ix_content_message_survey_item_message_id'))

    op.drop_table('content_message_survey_item')
    with op.batch_alter_table('content_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_content_message_status'))

    op.drop_table('content_message')
    with op.batch_alter_table('content_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_content_attachment_sha256'))

    op.drop_table('content_attachment')
    op.drop_table('content_variable')
    op.drop_table('content_setting')
