"""state check constraints

Revision ID: 5c2e7d1a9f30
Revises: 098b11ec89d0
Create Date: 2026-12-02 07:00:00.000000

Job and version states (and a job's kind) may only hold the values of their enums
(app.vocabulary): JobStatus, JobKind and VersionStatus. On SQLite adding a CHECK constraint
recreates the table (batch mode, keeping AUTOINCREMENT); migrations/env.py turns foreign keys off around it, so that
dropping the old table neither cascades into nor is refused by the tables that reference it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5c2e7d1a9f30"
down_revision: str | None = "098b11ec89d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The recreated SQLite tables keep AUTOINCREMENT: ids are never reused (app.db.orm).
KEEP = {"sqlite_autoincrement": True}
JOB_STATUSES = "'queued', 'running', 'succeeded', 'failed', 'cancelled'"
JOB_KINDS = "'train', 'backtest'"
VERSION_STATUSES = "'pending', 'ready', 'failed'"


def upgrade() -> None:
    with op.batch_alter_table("training_job", table_kwargs=KEEP) as batch_op:
        batch_op.create_check_constraint("status", f"status IN ({JOB_STATUSES})")
        batch_op.create_check_constraint("kind", f"kind IN ({JOB_KINDS})")
    with op.batch_alter_table("model_version", table_kwargs=KEEP) as batch_op:
        batch_op.create_check_constraint("status", f"status IN ({VERSION_STATUSES})")


def downgrade() -> None:
    with op.batch_alter_table("model_version", table_kwargs=KEEP) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_model_version_status"), type_="check")
    with op.batch_alter_table("training_job", table_kwargs=KEEP) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_training_job_kind"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_training_job_status"), type_="check")
