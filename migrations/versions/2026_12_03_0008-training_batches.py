"""training batches

Revision ID: 5e0b8d3c1f27
Revises: 77d74995d548
Create Date: 2026-12-03 06:18:00.000000

A training batch trains one spec on many series (a collection or a list of ids) as one job per
series; training_job.batch_id says which batch a job belongs to.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e0b8d3c1f27"
down_revision: str | None = "77d74995d548"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite recreates the table to add the constraints: it keeps AUTOINCREMENT (ids never reused).
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "training_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=True),
        sa.Column("collection_name", sa.String(length=32), nullable=True),
        sa.Column("target", sa.String(length=64), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("model_prefix", sa.String(length=60), nullable=True),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collection.id"],
            name=op.f("fk_training_batch_collection_id_collection"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_batch")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("training_batch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_training_batch_collection_id"), ["collection_id"], unique=False
        )
    with op.batch_alter_table("training_job", table_kwargs=KEEP) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_training_job_batch_id"), ["batch_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_training_job_batch_id_training_batch"),
            "training_batch",
            ["batch_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("training_job", table_kwargs=KEEP) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_training_job_batch_id_training_batch"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_training_job_batch_id"))
        batch_op.drop_column("batch_id")
    with op.batch_alter_table("training_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_batch_collection_id"))
    op.drop_table("training_batch")
