"""outbox.publisher: who publishes a row, when it is not the store's own relay.

A dead letter's copy goes back to its source topic, a topic the consuming service may
only read on a secured cluster. `orderflow dlq redrive` therefore queues the copy with
`publisher = 'cli'` and publishes it itself, as the CLI's principal, which may write
every event and command topic. NULL, every row before this revision and every row a
service writes: the store's own relay publishes it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("publisher", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("publisher")
