"""Read models (order view and timeline, stock, credit, shipments): projector store only.

Other stores get an empty revision, so every store shares one history and one head.
Timestamps are UTC ISO-8601 text taken from the events, as in 0001.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("order_view", "order_timeline", "stock_view", "credit_view", "shipment_view",
          "projected_events")


def _owned() -> bool:
    return context.config.attributes.get("store") == "projector"


def _id(name: str, **kwargs: bool) -> sa.Column:
    return sa.Column(name, sa.String(64), **kwargs)


def _stamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(40), nullable=nullable)


def upgrade() -> None:
    if not _owned():
        return
    op.create_table(
        "order_view",
        _id("order_id", primary_key=True),
        sa.Column("flow", sa.String(20), nullable=True),
        _id("customer_id", nullable=True),
        sa.Column("lines", sa.Text(), nullable=True),
        sa.Column("total_cents", sa.BigInteger(), nullable=True),
        _id("ship_to", nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        _id("reason", nullable=True),
        _stamp("created_at", nullable=True),
        _stamp("updated_at"),
        sa.Column("last_event_type", sa.String(100), nullable=False),
        _id("last_event_id", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("stream_version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_order_view_created_at", "order_view", ["created_at"])
    op.create_table(
        "order_timeline",
        _id("order_id", primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        _stamp("occurred_at"),
        sa.Column("service", sa.String(20), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        _id("event_id", nullable=False, unique=True),
        _id("causation_id", nullable=True),
    )
    _counters("stock_view", "sku", ("available", "reserved", "total"))
    _counters("credit_view", "customer_id", ("limit_cents", "held_cents", "available_cents"))
    op.create_table(
        "shipment_view",
        _id("order_id", primary_key=True),
        _id("country", nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        _id("reason", nullable=True),
        _stamp("updated_at"),
    )
    op.create_table("projected_events", _id("event_id", primary_key=True))


def _counters(table: str, key: str, amounts: tuple[str, ...]) -> None:
    op.create_table(table, _id(key, primary_key=True),
                    *(sa.Column(a, sa.BigInteger(), nullable=False) for a in amounts),
                    _stamp("updated_at"))


def downgrade() -> None:
    if _owned():
        for table in reversed(TABLES):
            op.drop_table(table)
