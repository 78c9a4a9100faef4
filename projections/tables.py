"""The projector's read-model tables (created by migrations/versions/0003).

Timestamps are the events' `occurred_at` as fixed-width UTC ISO-8601 text (they sort
like the instants they name), never the wall clock: a rebuild writes identical rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

metadata = sa.MetaData()
Id = sa.String(64)
Stamp = sa.String(40)

order_view = sa.Table(
    "order_view", metadata,
    sa.Column("order_id", Id, primary_key=True),
    sa.Column("flow", sa.String(20)),  # placed fields stay NULL until OrderPlaced is seen
    sa.Column("customer_id", Id),
    sa.Column("lines", sa.Text),
    sa.Column("total_cents", sa.BigInteger),
    sa.Column("ship_to", Id),
    sa.Column("channel", sa.String(20)),  # where it was placed (0007); "unknown" before
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", Id),
    sa.Column("created_at", Stamp),
    sa.Column("updated_at", Stamp, nullable=False),
    sa.Column("last_event_type", sa.String(100), nullable=False),
    sa.Column("last_event_id", Id, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),  # order events applied
    sa.Column("stream_version", sa.Integer, nullable=False),  # newest order-stream version
)

order_timeline = sa.Table(
    "order_timeline", metadata,
    sa.Column("order_id", Id, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("occurred_at", Stamp, nullable=False),
    sa.Column("service", sa.String(20), nullable=False),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("event_id", Id, nullable=False, unique=True),
    sa.Column("causation_id", Id),
)

stock_view = sa.Table(
    "stock_view", metadata,
    sa.Column("sku", Id, primary_key=True),
    sa.Column("available", sa.BigInteger, nullable=False),
    sa.Column("reserved", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Stamp, nullable=False),
)

credit_view = sa.Table(
    "credit_view", metadata,
    sa.Column("customer_id", Id, primary_key=True),
    sa.Column("limit_cents", sa.BigInteger, nullable=False),
    sa.Column("held_cents", sa.BigInteger, nullable=False),
    sa.Column("available_cents", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Stamp, nullable=False),
)

shipment_view = sa.Table(
    "shipment_view", metadata,
    sa.Column("order_id", Id, primary_key=True),
    sa.Column("country", Id),  # NULL: cancelled before shipping knew the destination
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", Id),
    sa.Column("updated_at", Stamp, nullable=False),
)

# Bookkeeping, not a view: the stock and credit views add deltas, so applying an event
# twice (outside the runtime's own dedup) must be refused by the projector itself.
projected_events = sa.Table(
    "projected_events", metadata,
    sa.Column("event_id", Id, primary_key=True),
)

# The allow-list of what `tables` and `inspect` may show, by name.
saga_view = sa.Table(
    "saga_view", metadata,
    sa.Column("order_id", Id, primary_key=True),
    sa.Column("state", sa.String(30), nullable=False),
    sa.Column("current_step", sa.String(30)),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("steps_done", sa.Text, nullable=False),  # comma-separated, in order
    sa.Column("compensated", sa.Text, nullable=False),
    sa.Column("late_successes", sa.Text, nullable=False),
    sa.Column("reason", Id),
    sa.Column("commands_sent", sa.Integer, nullable=False),
    sa.Column("step_deadline", Stamp),
    sa.Column("started_at", Stamp, nullable=False),
    sa.Column("updated_at", Stamp, nullable=False),
)

# Dead letters, from the notices on `dead-letters` (0008): one row per dead letter.
dead_letter_view = sa.Table(
    "dead_letter_view", metadata,
    sa.Column("dead_letter_id", Id, primary_key=True),
    sa.Column("order_id", Id, index=True),
    sa.Column("group_id", Id),
    sa.Column("service", sa.String(20)),  # the group's service: who owes the undo
    sa.Column("topic", Id),
    sa.Column("partition", sa.Integer),
    sa.Column("offset", sa.BigInteger),
    sa.Column("message_type", sa.String(100)),
    sa.Column("compensation", sa.Boolean),  # the message asked its service to undo a step
    sa.Column("error", Id),
    sa.Column("dead_lettered_at", Stamp),
    sa.Column("redriven_at", Stamp),
)

READ_MODELS: dict[str, sa.Table] = {t.name: t for t in (
    order_view, order_timeline, stock_view, credit_view, shipment_view, saga_view,
    dead_letter_view)}
ALL_TABLES = (*READ_MODELS.values(), projected_events)


def stamp(moment: datetime) -> str:
    """Fixed-width UTC text, so string order is time order on every database."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
