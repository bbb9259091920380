"""retrain policies, version numbers never reused

Revision ID: c41f9e2b7a06
Revises: a7d3c0e5b812
Create Date: 2026-12-03 04:00:00.000000

A model's retrain policy (model_policy), and on a job the rule that started it (trigger).
registered_model.last_version: the highest version number ever given, so that a deleted
version's number is never given again (the ledger keeps referring to it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c41f9e2b7a06"
down_revision: str | None = "a7d3c0e5b812"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_policy",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fired_for_version", sa.Integer(), nullable=True),
        sa.Column("skill_fired_for_version", sa.Integer(), nullable=True),
        sa.Column("fired_at_last_date", sa.BigInteger(), nullable=True),
        sa.Column("fired_job_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_model.id"],
            name=op.f("fk_model_policy_model_id_registered_model"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_model_policy")),
    )
    with op.batch_alter_table("training_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trigger", sa.Text(), nullable=True))
    with op.batch_alter_table("registered_model", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_version", sa.Integer(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE registered_model SET last_version = COALESCE((SELECT MAX(version) FROM "
        "model_version WHERE model_version.model_id = registered_model.id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("registered_model", schema=None) as batch_op:
        batch_op.drop_column("last_version")
    with op.batch_alter_table("training_job", schema=None) as batch_op:
        batch_op.drop_column("trigger")
    op.drop_table("model_policy")
