"""PostgreSQL: a committed outbox insert notifies the store's relay.

A statement-level trigger runs `pg_notify('outbox_<schema>')`; PostgreSQL delivers it
at commit, so a relay LISTENing there wakes as soon as a row can be seen, whichever
process wrote it. SQLite has no NOTIFY: its relays watch `PRAGMA data_version`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = context.config.attributes["schema"]
    op.execute(f"""
        CREATE OR REPLACE FUNCTION "{schema}".outbox_notify() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('outbox_' || TG_TABLE_SCHEMA, '');
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE TRIGGER outbox_notify AFTER INSERT ON "{schema}".outbox
        FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".outbox_notify()""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = context.config.attributes["schema"]
    op.execute(f'DROP TRIGGER IF EXISTS outbox_notify ON "{schema}".outbox')
    op.execute(f'DROP FUNCTION IF EXISTS "{schema}".outbox_notify()')
