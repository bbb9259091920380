"""backtests and promotions

Revision ID: 098b11ec89d0
Revises: f617ac4ee652
Create Date: 2026-11-22 03:03:02.672729

Training jobs gain a kind (train | backtest) and the outcome of metric-gated promotion;
backtest results are rows of their own, deleted with their version.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "098b11ec89d0"
down_revision: str | None = "f617ac4ee652"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backtest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["training_job.id"],
            name=op.f("fk_backtest_job_id_training_job"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_backtest_model_version_id_model_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("backtest", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backtest_model_version_id"), ["model_version_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_backtest_job_id"), ["job_id"], unique=False)

    with op.batch_alter_table("training_job", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="train", nullable=False)
        )
        batch_op.add_column(sa.Column("promotion", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_job", schema=None) as batch_op:
        batch_op.drop_column("promotion")
        batch_op.drop_column("kind")

    with op.batch_alter_table("backtest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_job_id"))
        batch_op.drop_index(batch_op.f("ix_backtest_model_version_id"))

    op.drop_table("backtest")
