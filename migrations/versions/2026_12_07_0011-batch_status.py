"""batch status

Revision ID: 8d1f4b6e2a93
Revises: 3f8a6c2d9e14
Create Date: 2026-12-07 09:00:00.000000

A training batch's state is stored (``training_batch.status``, app.vocabulary.BatchStatus,
with a CHECK constraint like the job and version states) instead of being computed from its
jobs on every read; app.training.jobs.lifecycle keeps it in step with them. Existing batches get
the state their jobs imply: ``done`` when none is queued or running, ``running`` when one has
started, else ``queued``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8d1f4b6e2a93"
down_revision: str | None = "3f8a6c2d9e14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite recreates the table to add the column: it keeps AUTOINCREMENT (ids never reused).
KEEP = {"sqlite_autoincrement": True}
BATCH_STATUSES = "'queued', 'running', 'done'"


def upgrade() -> None:
    with op.batch_alter_table("training_batch", table_kwargs=KEEP) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(16), server_default="queued", nullable=False)
        )
        batch_op.create_check_constraint("status", f"status IN ({BATCH_STATUSES})")
    op.execute(
        """
        UPDATE training_batch SET status = CASE
            WHEN NOT EXISTS (
                SELECT 1 FROM training_job j
                WHERE j.batch_id = training_batch.id AND j.status IN ('queued', 'running')
            ) THEN 'done'
            WHEN EXISTS (
                SELECT 1 FROM training_job j
                WHERE j.batch_id = training_batch.id AND j.started_at IS NOT NULL
            ) THEN 'running'
            ELSE 'queued'
        END
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("training_batch", table_kwargs=KEEP) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_training_batch_status"), type_="check")
        batch_op.drop_column("status")
