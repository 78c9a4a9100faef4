"""A clean stop: SIGINT and SIGTERM set an event that every loop of a process watches.

Standard library only, so that `orderflow run SERVICE` installs it before importing the
service, its store and its Kafka clients: a service stopped while it is still starting
exits cleanly (code 0) instead of being killed by the signal's default action.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

logger = logging.getLogger(__name__)


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGINT/SIGTERM set `stop`; installed before the slow start-up, so a service
    stopped while starting still exits cleanly."""
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("%s received, stopping", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
