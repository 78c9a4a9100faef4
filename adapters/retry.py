"""How every loop of a service waits after a failure: the consumer, the relay and its
watcher, the timers. Each one backs off and tries again for as long as the store or the
broker is away, logging one line per failure; none of them gives up."""

from __future__ import annotations

import logging


def backoff(failures: int) -> float:
    """Seconds to wait after the n-th failure in a row: 0.2, 0.4, ... up to 5."""
    return float(min(5.0, 0.1 * 2**failures))


def log_retry(log: logging.Logger, what: str, error: BaseException, failures: int) -> None:
    """One line per failure; the first of a run also gets its traceback."""
    first_line = (str(error).splitlines() or [""])[0][:200]
    log.error("%s failed (%s: %s), retry %d", what, type(error).__name__, first_line, failures,
              exc_info=error if failures == 1 else None)
