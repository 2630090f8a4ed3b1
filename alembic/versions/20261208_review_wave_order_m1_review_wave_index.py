"""the review list of one survey and wave, newest first, from an index

With only ``(survey_id, received_at, id)``, the page of one wave read that index backwards and
skipped every newer row of the survey's other waves: 450,000 rows for the first page of the
baseline at 1,000,000 submissions (0.31 s), 550,000 for page 2,000 (0.66 s; benchmarks/README.md,
"PostgreSQL plans at 1,000,000 submissions"). Supervisors filter by wave nearly always.

Revision ID: m1_review_wave_index
Revises: l1_wave_target
Create Date: 2026-12-08 01:00:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = 'm1_review_wave_index'
down_revision: Union[str, None] = 'l1_wave_target'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_submission_survey_wave_received", "submission", ["survey_id", "wave_id", "received_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_submission_survey_wave_received", table_name="submission")
