"""imported versions

Revision ID: 3f8a6c2d9e14
Revises: 9c4e2a71b0d5
Create Date: 2026-12-03 13:00:00.000000

A version imported from another deployment's bundle (``POST /v1/models/{name}/versions:import``)
keeps where it came from in ``model_version.origin``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f8a6c2d9e14"
down_revision: str | None = "9c4e2a71b0d5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite recreates the table to add the column: it keeps AUTOINCREMENT (ids never reused).
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("model_version", table_kwargs=KEEP) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_version", table_kwargs=KEEP) as batch_op:
        batch_op.drop_column("origin")
