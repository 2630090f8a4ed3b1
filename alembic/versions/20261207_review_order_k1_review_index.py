"""indexes in the review list's order: newest first, overall and for one survey

The review list pages by ``received_at DESC, id DESC``; with no index in that order PostgreSQL
read and sorted the whole table for each page (3.5 s unfiltered, 2.4 s for one survey and wave
at 1,000,000 submissions, benchmarks/README.md, "EXPLAIN at 1,000,000 submissions"). A btree
is read backwards as well as forwards, so ascending columns serve the descending order.

Revision ID: k1_review_index
Revises: j1_openrosa
Create Date: 2026-12-07 22:00:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = 'k1_review_index'
down_revision: Union[str, None] = 'j1_openrosa'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_submission_received", "submission", ["received_at", "id"])
    op.create_index("ix_submission_survey_received", "submission", ["survey_id", "received_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_submission_survey_received", table_name="submission")
    op.drop_index("ix_submission_received", table_name="submission")
