"""Test-only crash points: ORDERFLOW_FAULT=<point>:<n> makes the process exit hard
(as if SIGKILLed) the n-th time it reaches <point>. Unset, a point costs one dict lookup."""

from __future__ import annotations

import logging
import os
from functools import cache

logger = logging.getLogger(__name__)
_hits: dict[str, int] = {}


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
