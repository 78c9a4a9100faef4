"""Which topics a store's relay has published to: what that service is seen writing.

Every record a service process sends goes out of its own outbox through its relay
(events, replies, commands, dead letters and their notices), and the relay marks a row
published only after Kafka's delivery report. So the distinct topics of a store's
published rows are the topics its principal has written, as far as the rows go back:
retention (adapters/sql/retention.py) deletes published rows after a while, so this is
"since the last prune". `orderflow topology` reads producers from here until the traces
(OpenTelemetry) can say it; an unpublished or quarantined row was not written, and a row
of another publisher (a redriven copy, sent by the CLI: outbox.publisher) was not
written by the service.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from adapters.sql.engine import READONLY
from adapters.sql.tables import outbox
from domain.errors import OrderflowError


class OutboxUnreadable(OrderflowError):
    """A store whose outbox cannot be read now."""


def published_topics(engine: Engine) -> set[str]:
    """The topics of the store's published outbox rows, on a read-only connection of its
    own (an observer's, as tracking.read_group_positions)."""
    query = sa.select(outbox.c.topic).where(outbox.c.published_at.is_not(None),
                                            outbox.c.publisher.is_(None)).distinct()
    try:
        with engine.connect().execution_options(**READONLY) as connection:
            return {row.topic for row in connection.execute(query)}
    except SQLAlchemyError as exc:
        raise OutboxUnreadable(f"the outbox of {engine.url.database}: {exc}") from exc
