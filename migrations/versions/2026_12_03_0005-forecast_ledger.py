"""forecast ledger

Revision ID: a7d3c0e5b812
Revises: 5c2e7d1a9f30
Create Date: 2026-12-03 03:19:04.314750

Every served forecast (served_forecast) and its steps (ledger_point), scored against the
observations as they arrive. No foreign key to versions or series: the ledger outlives them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7d3c0e5b812"
down_revision: str | None = "5c2e7d1a9f30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "served_forecast",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.BigInteger(), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("levels", sa.String(length=32), nullable=False),
        sa.Column("base_value", sa.Double(), nullable=False),
        sa.Column("first_served_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_served_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("served_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_served_forecast")),
        sa.UniqueConstraint(
            "model_name",
            "version",
            "series_id",
            "field",
            "as_of",
            "horizon",
            "levels",
            name=op.f("uq_served_forecast_model_name_version_series_id_field_as_of_horizon_levels"),
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("served_forecast", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_served_forecast_model_name"), ["model_name", "version"], unique=False
        )

    op.create_table(
        "ledger_point",
        sa.Column("forecast_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("field_id", sa.Integer(), nullable=False),
        sa.Column("target_ts", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("bounds", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("actual", sa.Double(), nullable=True),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'scored', 'missing')", name=op.f("ck_ledger_point_status")
        ),
        sa.ForeignKeyConstraint(
            ["forecast_id"],
            ["served_forecast.id"],
            name=op.f("fk_ledger_point_forecast_id_served_forecast"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("forecast_id", "step", name=op.f("pk_ledger_point")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ledger_point", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_point_series_id"),
            ["series_id", "field_id", "target_ts"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_point", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_point_series_id"))
    op.drop_table("ledger_point")
    with op.batch_alter_table("served_forecast", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_served_forecast_model_name"))
    op.drop_table("served_forecast")
