"""Run a command handler in one transaction, retrying on optimistic-concurrency clashes."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine

from adapters.sql.engine import READONLY
from adapters.sql.event_store import ConcurrencyError
from adapters.sql.transaction import write

logger = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 12


def transact(engine: Engine, work: Callable[[Connection], T], what: str,
             attempts: int = ATTEMPTS) -> T:
    """load → decide → append inside `work`; on a clash reload and decide again."""
    for attempt in range(1, attempts + 1):
        try:
            with write(engine) as connection:
                return work(connection)
        except ConcurrencyError:
            logger.info("%s: concurrent change, attempt %d of %d", what, attempt, attempts)
            # Exponential backoff with full jitter: 20 writers on one stream spread out
            # instead of colliding again in lockstep.
            time.sleep(random.uniform(0, min(0.5, 0.002 * 2**attempt)))
    raise ConcurrencyError(f"{what}: the data kept changing concurrently;"
                           f" gave up after {attempts} attempts, nothing was written")


def reading(engine: Engine) -> Connection:
    """A connection for queries: on SQLite it does not take the write lock."""
    return engine.connect().execution_options(**READONLY)
