"""Bounded storage, relay quarantine and dead letters through the outbox.

- `processed_messages.processed_at`: when a group applied a message, so that
  `ORDERFLOW_RETENTION_HOURS` can prune ids dedupe no longer needs (rows from before
  this revision count as processed now).
- `outbox.attempts`, `last_error`, `quarantined_at`: a row that keeps failing to publish
  is set aside instead of holding up, or re-sending, the rows after it.
- `outbox.value` may be NULL: the dead letter of a tombstone is a tombstone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "published_at IS NULL AND quarantined_at IS NULL"


def upgrade() -> None:
    op.add_column("processed_messages", sa.Column("processed_at", sa.String(40), nullable=True))
    op.execute(sa.text("UPDATE processed_messages SET processed_at = :now")
               .bindparams(now=datetime.now(UTC).isoformat()))
    op.create_index("ix_processed_messages_processed_at", "processed_messages", ["processed_at"])
    op.drop_index("ix_outbox_pending", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("value", existing_type=sa.LargeBinary(), nullable=True)
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("quarantined_at", sa.String(40), nullable=True))
    op.create_index("ix_outbox_pending", "outbox", ["id"], sqlite_where=sa.text(PENDING),
                    postgresql_where=sa.text(PENDING))
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"],
                    sqlite_where=sa.text("published_at IS NOT NULL"),
                    postgresql_where=sa.text("published_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_outbox_published_at", "outbox")
    op.drop_index("ix_outbox_pending", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("quarantined_at")
        batch.drop_column("last_error")
        batch.drop_column("attempts")
    op.create_index("ix_outbox_pending", "outbox", ["id"],
                    sqlite_where=sa.text("published_at IS NULL"),
                    postgresql_where=sa.text("published_at IS NULL"))
    op.drop_index("ix_processed_messages_processed_at", "processed_messages")
    op.drop_column("processed_messages", "processed_at")
