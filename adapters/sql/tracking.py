"""Consumer positions and processed message ids, written in the handler's transaction.

The position row is the truth about what a consumer group has applied, and it only
moves forward; Kafka's own committed offsets are only advisory. The processed-id row
makes a message that the relay published twice (crash between produce and mark) a
no-op the second time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from adapters.sql.engine import READONLY
from adapters.sql.plain import chunks, in_list, run
from adapters.sql.tables import consumer_positions, processed_messages
from adapters.sql.upserts import upsert
from domain.errors import OrderflowError

TopicPartitionKey = tuple[str, int]


def load_positions(connection: Connection, group: str,
                   partitions: Iterable[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
    wanted = set(partitions)
    return {key: offset for key, offset in group_positions(connection, group).items()
            if key in wanted}


def group_positions(connection: Connection, group: str) -> dict[TopicPartitionKey, int]:
    """Every stored position of `group`: the next offset it will apply, per partition."""
    rows = connection.execute(sa.select(consumer_positions.c.topic, consumer_positions.c.partition,
                                        consumer_positions.c.next_offset)
                              .where(consumer_positions.c.group_id == group))
    return {(r.topic, r.partition): r.next_offset for r in rows}


class PositionsUnreadable(OrderflowError):
    """A store whose positions cannot be read now."""


def read_group_positions(engine: Engine, group: str) -> dict[TopicPartitionKey, int]:
    """`group_positions` on a read-only connection of its own, for an observer (`watch`);
    a store that cannot be read is PositionsUnreadable."""
    try:
        with engine.connect().execution_options(**READONLY) as connection:
            return group_positions(connection, group)
    except SQLAlchemyError as exc:
        raise PositionsUnreadable(f"positions of {group}: {exc}") from exc


def read_last_applied(engine: Engine, group: str) -> datetime | None:
    """When `group` last committed a batch (its newest position row's `updated_at`,
    which every batch's transaction stamps, skipped messages' too); None: never."""
    try:
        with engine.connect().execution_options(**READONLY) as connection:
            newest = connection.execute(sa.select(sa.func.max(consumer_positions.c.updated_at))
                                        .where(consumer_positions.c.group_id == group)).scalar()
    except SQLAlchemyError as exc:
        raise PositionsUnreadable(f"positions of {group}: {exc}") from exc
    return None if newest is None else datetime.fromisoformat(newest)


def save_positions(connection: Connection, group: str,
                   positions: Mapping[TopicPartitionKey, int]) -> None:
    if not positions:
        return
    now = datetime.now(UTC).isoformat()
    rows = [{"group_id": group, "topic": t, "partition": p, "next_offset": o, "updated_at": now}
            for (t, p), o in positions.items()]
    upsert(connection, consumer_positions, rows, _moved_on)


def _moved_on(new: Any) -> dict[str, Any]:
    """Positions only move forward: a late writer (a batch of the partition's previous
    owner, committing after the new owner moved on) never takes one back."""
    ahead = new.next_offset > consumer_positions.c.next_offset
    return {"next_offset": sa.case((ahead, new.next_offset),
                                   else_=consumer_positions.c.next_offset),
            "updated_at": new.updated_at}


def already_processed(connection: Connection, group: str, message_ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for chunk in chunks(message_ids):
        marks, params = in_list(chunk)
        rows = run(connection, "SELECT message_id FROM processed_messages WHERE group_id = "
                   f":group AND message_id IN ({marks})", {**params, "group": group})
        seen.update(row[0] for row in rows)
    return seen


def mark_processed(connection: Connection, group: str, message_ids: list[str]) -> None:
    if message_ids:
        now = datetime.now(UTC).isoformat()
        run(connection, "INSERT INTO processed_messages (group_id, message_id, processed_at) "
            "VALUES (:group_id, :message_id, :processed_at)",
            [{"group_id": group, "message_id": m, "processed_at": now} for m in message_ids])


def reset_group(connection: Connection, group: str) -> None:
    """Forget a group's progress (projection rebuilds start from the beginning)."""
    connection.execute(consumer_positions.delete().where(consumer_positions.c.group_id == group))
    connection.execute(processed_messages.delete().where(processed_messages.c.group_id == group))

