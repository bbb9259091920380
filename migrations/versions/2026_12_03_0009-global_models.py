"""global models

Revision ID: 9c4e2a71b0d5
Revises: 5e0b8d3c1f27
Create Date: 2026-12-03 09:30:00.000000

A global model is one network, trained by a batch of scope 'global', trained on many series: its training job has no series_id but
member_ids; its version has no series_id, scope 'global' and each member's holdout metrics.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c4e2a71b0d5"
down_revision: str | None = "5e0b8d3c1f27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite recreates the tables to add the columns: it keeps AUTOINCREMENT (ids never reused).
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("training_batch", table_kwargs=KEEP) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(length=8), server_default="series", nullable=False)
        )
    with op.batch_alter_table("training_job", table_kwargs=KEEP) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(length=8), server_default="series", nullable=False)
        )
        batch_op.add_column(sa.Column("member_ids", sa.JSON(), nullable=True))
    with op.batch_alter_table("model_version", table_kwargs=KEEP) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(length=8), server_default="series", nullable=False)
        )
        batch_op.add_column(sa.Column("members", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_version", table_kwargs=KEEP) as batch_op:
        batch_op.drop_column("members")
        batch_op.drop_column("scope")
    with op.batch_alter_table("training_job", table_kwargs=KEEP) as batch_op:
        batch_op.drop_column("member_ids")
        batch_op.drop_column("scope")
    with op.batch_alter_table("training_batch", table_kwargs=KEEP) as batch_op:
        batch_op.drop_column("scope")
