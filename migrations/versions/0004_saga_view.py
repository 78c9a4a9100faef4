"""saga_view: one row per orchestrated order's saga (projector store only).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if context.config.attributes.get("store") != "projector":
        return
    op.create_table(
        "saga_view",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("current_step", sa.String(30)),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("steps_done", sa.Text, nullable=False),
        sa.Column("compensated", sa.Text, nullable=False),
        sa.Column("late_successes", sa.Text, nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("commands_sent", sa.Integer, nullable=False),
        sa.Column("step_deadline", sa.String(40)),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_saga_view_state", "saga_view", ["state"])


def downgrade() -> None:
    if context.config.attributes.get("store") == "projector":
        op.drop_table("saga_view")
