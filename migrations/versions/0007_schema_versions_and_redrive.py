"""Stored schema versions and redrivable dead letters.

- `events.schema_version`: the version of the event's `data` as it was written, so
  upcasters can bring old stored events up to the code's version on load, as they do
  for records on Kafka. Every row written before this revision is version 1.
- `order_view.channel` (projector store only): where the order was placed. Orders
  projected before this revision were placed before channels were recorded: "unknown",
  what a rebuild gives them too (the upcaster of their OrderPlaced v1 says so).
- `outbox.redriven_at`: when `orderflow dlq redrive` sent a dead letter (an outbox row
  on a `<topic>.dlq`) back to its source topic.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("schema_version", sa.Integer(), nullable=False,
                                   server_default="1"))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("redriven_at", sa.String(40), nullable=True))
    if _projector():
        op.add_column("order_view", sa.Column("channel", sa.String(20), nullable=True))
        # created_at is set once OrderPlaced was projected; NULL channel = not seen yet
        op.execute("UPDATE order_view SET channel = 'unknown' WHERE created_at IS NOT NULL")


def _projector() -> bool:
    return context.config.attributes.get("store") == "projector"


def downgrade() -> None:
    if _projector():
        with op.batch_alter_table("order_view") as batch:
            batch.drop_column("channel")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("redriven_at")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("schema_version")
