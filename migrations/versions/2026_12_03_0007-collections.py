"""collections of series

Revision ID: 77d74995d548
Revises: c41f9e2b7a06
Create Date: 2026-12-03 05:56:08.645430

A collection is a named set of series uploaded together in long format (``symbol,date,…``);
each member series carries its collection and its symbol, unique within the collection.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "77d74995d548"
down_revision: str | None = "c41f9e2b7a06"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite recreates the table to add the constraints: it keeps AUTOINCREMENT (ids never reused).
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "collection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection")),
        sa.UniqueConstraint("name", name=op.f("uq_collection_name")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("series", table_kwargs=KEEP) as batch_op:
        batch_op.add_column(sa.Column("collection_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("symbol", sa.String(length=40), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_series_collection_id"), ["collection_id"], unique=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_series_collection_id_symbol"), ["collection_id", "symbol"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_series_collection_id_collection"),
            "collection",
            ["collection_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("series", table_kwargs=KEEP) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_series_collection_id_collection"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_series_collection_id_symbol"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_series_collection_id"))
        batch_op.drop_column("symbol")
        batch_op.drop_column("collection_id")
    op.drop_table("collection")
