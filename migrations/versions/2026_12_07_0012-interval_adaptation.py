"""interval adaptation

Revision ID: 5b7e3c9a1d24
Revises: 8d1f4b6e2a93
Create Date: 2026-12-07 12:00:00.000000

Per model version, how its intervals are adapted from the ledger's scored points
(``interval_adaptation``: app.ml.intervals.IntervalAdaptation as JSON, and a revision the
forecast path compares with the adapted intervals it holds). Versions start without a row,
unadapted; the first scoring of one of their points writes it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b7e3c9a1d24"
down_revision: str | None = "8d1f4b6e2a93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "interval_adaptation",
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("adaptation", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_interval_adaptation_model_version_id_model_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_version_id", name=op.f("pk_interval_adaptation")),
    )


def downgrade() -> None:
    op.drop_table("interval_adaptation")
