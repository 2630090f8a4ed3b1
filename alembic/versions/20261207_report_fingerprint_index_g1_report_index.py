"""an index that answers the report's fingerprint query (survey, wave, updated time, id)

Revision ID: g1_report_index
Revises: f1_campaign
Create Date: 2026-12-07 12:40:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = 'g1_report_index'
down_revision: Union[str, None] = 'f1_campaign'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_submission_survey_wave_updated", "submission", ["survey_id", "wave_id", "updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_submission_survey_wave_updated", table_name="submission")
