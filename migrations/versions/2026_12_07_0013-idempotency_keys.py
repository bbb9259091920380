"""idempotency keys

Revision ID: 3c6a9e2f7b15
Revises: 5b7e3c9a1d24
Create Date: 2026-12-07 13:00:00.000000

The ``Idempotency-Key`` a client sent with a request that created a training job or batch,
with the hash of the request's body and the id of what it created (app.idempotency).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c6a9e2f7b15"
down_revision: str | None = "5b7e3c9a1d24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("operation", "key", name=op.f("pk_idempotency_key")),
    )


def downgrade() -> None:
    op.drop_table("idempotency_key")
