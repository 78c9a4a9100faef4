"""dead_letter_view: the dead letters the read models know of (projector store only).

Kept from the notices on `dead-letters` (adapters/notices.py), so an order whose
compensation waits in a DLQ shows `compensation_failed` until it is done.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if context.config.attributes.get("store") != "projector":
        return
    op.create_table(
        "dead_letter_view",
        sa.Column("dead_letter_id", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(64)),
        sa.Column("group_id", sa.String(64)),
        sa.Column("service", sa.String(20)),
        sa.Column("topic", sa.String(64)),
        sa.Column("partition", sa.Integer),
        sa.Column("offset", sa.BigInteger),
        sa.Column("message_type", sa.String(100)),
        sa.Column("compensation", sa.Boolean),
        sa.Column("error", sa.String(64)),
        sa.Column("dead_lettered_at", sa.String(40)),
        sa.Column("redriven_at", sa.String(40)),
    )
    op.create_index("ix_dead_letter_view_order_id", "dead_letter_view", ["order_id"])


def downgrade() -> None:
    if context.config.attributes.get("store") == "projector":
        op.drop_table("dead_letter_view")
