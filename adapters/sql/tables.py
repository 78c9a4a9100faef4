"""The tables every store has (made by migrations/versions/0001, grown by 0006, 0007, 0009)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

events = sa.Table(
    "events", metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("stream_id", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("occurred_at", sa.String(40), nullable=False),
    sa.Column("correlation_id", sa.String(64), nullable=False),
    sa.Column("causation_id", sa.String(64)),
    sa.Column("flow", sa.String(20)),
    sa.Column("schema_version", sa.Integer, nullable=False, server_default="1"),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(36), nullable=False),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("value", sa.LargeBinary),  # NULL: the dead letter of a tombstone
    sa.Column("headers", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("published_at", sa.String(40)),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("quarantined_at", sa.String(40)),  # set aside after failing to publish
    sa.Column("redriven_at", sa.String(40)),  # a dead letter sent back to its source topic
    sa.Column("publisher", sa.String(20)),  # NULL: the store's relay; "cli": a redriven copy
)

consumer_positions = sa.Table(
    "consumer_positions", metadata,
    sa.Column("group_id", sa.String(255), primary_key=True),
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

processed_messages = sa.Table(
    "processed_messages", metadata,
    sa.Column("group_id", sa.String(255), primary_key=True),
    sa.Column("message_id", sa.String(64), primary_key=True),
    sa.Column("processed_at", sa.String(40)),  # for ORDERFLOW_RETENTION_HOURS
)

timers = sa.Table(
    "timers", metadata,
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("due_at", sa.String(40), nullable=False),
)
