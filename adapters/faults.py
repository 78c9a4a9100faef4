"""Test-only faults, armed through the environment; unset, each costs one lookup.

- `ORDERFLOW_FAULT=<point>:<n>`: the process exits hard (as if SIGKILLed) the n-th time
  it reaches <point>.
- `ORDERFLOW_FAULT_COMMIT=<probability>:<max>`: a SQLite COMMIT fails (the transaction
  is rolled back) with that probability, at most <max> times in this process.
- `ORDERFLOW_FAULT_FAIL=<step>:<n>[,<step>:<n>...]`: the handler of that compensation
  step (release_stock, void_payment, cancel_shipment) fails with a store error the first
  n times it runs for each order, then works: a consumer retries a store error 5 times
  after its batch's first try, so n = 6 sends the message to the DLQ once.
- `ORDERFLOW_FAULT_CLOCK_FILE=<path>`: the service's clock runs ahead of the wall clock
  by the seconds written in that file (none or empty: 0), so a test moves time on when
  its premise holds — "answered before the deadline" by construction, not by a race.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache

logger = logging.getLogger(__name__)
_hits: dict[str, int] = {}
_commit_failures = [0]
_lock = threading.Lock()


@cache
def _armed() -> tuple[str, int] | None:
    spec = os.environ.get("ORDERFLOW_FAULT", "")
    point, _, count = spec.partition(":")
    return (point, int(count or 1)) if point else None


def point(name: str) -> None:
    armed = _armed()
    if armed is None or armed[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= armed[1]:
        logger.error("fault injected at %s (hit %d): exiting hard", name, _hits[name])
        os._exit(137)


@cache
def _commit_spec() -> tuple[float, int] | None:
    spec = os.environ.get("ORDERFLOW_FAULT_COMMIT", "")
    chance, _, most = spec.partition(":")
    return (float(chance), int(most or 1)) if chance else None


def commit_fails() -> bool:
    """True when this COMMIT is to fail (an injected fault, logged and counted)."""
    spec = _commit_spec()
    if spec is None or random.random() >= spec[0]:
        return False
    with _lock:
        if _commit_failures[0] >= spec[1]:
            return False
        _commit_failures[0] += 1
        logger.error("fault injected: commit failure %d of %d", _commit_failures[0], spec[1])
    return True


@cache
def _store_error() -> type[Exception]:
    from sqlalchemy.exc import DBAPIError  # here: the CLI imports this module at start-up

    class InjectedStoreError(DBAPIError):
        """A store error on a store that still answers, as a failing compensation sees it."""

    return InjectedStoreError


@cache
def _fail_spec() -> dict[str, int]:
    spec = os.environ.get("ORDERFLOW_FAULT_FAIL", "")
    pairs = (part.partition(":") for part in spec.split(",") if part)
    return {step: int(count or 1) for step, _, count in pairs}


def fail(step: str, order_id: str) -> None:
    """Raise a store error (a DBAPIError) for the first n runs of `step` for this order."""
    most = _fail_spec().get(step)
    if most is None:
        return
    key = f"fail:{step}:{order_id}"
    with _lock:
        _hits[key] = _hits.get(key, 0) + 1
        hit = _hits[key]
    if hit <= most:
        logger.error("fault injected: %s of order %s fails (%d of %d)", step, order_id, hit,
                     most)
        raise _store_error()(f"-- {step}", None, RuntimeError(f"injected {step} failure"))


def skewed(clock: Callable[[], datetime]) -> Callable[[], datetime]:
    """`clock`, or, with ORDERFLOW_FAULT_CLOCK_FILE set, `clock` plus the file's seconds."""
    path = os.environ.get("ORDERFLOW_FAULT_CLOCK_FILE")
    if not path:
        return clock
    logger.warning("fault injected: the clock follows %s", path)
    return lambda: clock() + timedelta(seconds=_seconds_in(path))


def _seconds_in(path: str) -> float:
    try:
        with open(path) as text:
            return float(text.read().strip() or 0)
    except (OSError, ValueError):
        return 0.0
