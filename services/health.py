"""Is each service healthy? What `orderflow health` says, and why, from measured facts.

Pure: a service's health is judged from numbers measured elsewhere — whether the process
a running `orderflow up` names for it lives (services/supervisor.py's state file), its
consumer lag (services/lag.py: the broker's high watermarks minus the positions in its
own store), when its group last committed a batch (the newest `updated_at` of its
position rows) and the dead letters waiting in its store — so a test hands it numbers.

A service is healthy when none of these holds (each is one `problem`):

- `down`: no running `up` names a live process for it (services started by hand with
  `orderflow run` are not seen: only `up` keeps a state file);
- `stalled` (its lag is not draining): it runs, has records to apply (lag > 0), and
  has committed no batch for `stalled_after` seconds (or never). A service that keeps
  up commits within milliseconds of a record's arrival, so lag alone, seen at one
  instant, is no problem (a service that is down does not drain either: `down` says it);
- `dead letters`: letters wait in its store to be looked at and redriven;
- `unknown`: its lag or its dead letters cannot be measured (its store cannot be read).
  A health check that cannot tell says unhealthy.

Caught up is lag 0: lag is summed over partitions and never below 0 on any one, so a
sum of 0 is 0 on every partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.live import Process

STALLED_AFTER = 30.0  # seconds with records waiting and no batch committed: stalled
DOWN, STALLED, DEAD_LETTERS, UNKNOWN = "down", "stalled", "dead letters", "unknown"


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    name: str
    up: bool
    pid: int | None  # the process a running up runs it as; None: not under one
    lag: int | None  # records its group has still to apply; None: unknown
    last_batch_age: float | None  # seconds since its group last committed; None: never
    dead_letters: int | None  # waiting in its store; None: unknown
    problems: tuple[str, ...]

    @property
    def caught_up(self) -> bool | None:
        return None if self.lag is None else self.lag == 0

    @property
    def healthy(self) -> bool:
        return not self.problems

    def document(self) -> dict[str, Any]:
        return {"up": self.up, "pid": self.pid, "lag": self.lag, "caught_up": self.caught_up,
                "last_batch_age": self.last_batch_age, "dead_letters": self.dead_letters,
                "healthy": self.healthy, "problems": list(self.problems)}


def service_health(name: str, process: Process | None, lag: int | None,
                   last_batch: datetime | None, dead_letters: int | None, now: datetime,
                   stalled_after: float = STALLED_AFTER) -> ServiceHealth:
    """The health of a service from what was measured of it at `now`; `process`: what a
    running up runs it as (None: no up runs it)."""
    age = None if last_batch is None else max(0.0, (now - last_batch).total_seconds())
    up = process is not None and process.alive
    return ServiceHealth(name, up, None if process is None else process.pid, lag, age,
                         dead_letters, problems(up, lag, age, dead_letters, stalled_after))


def problems(up: bool, lag: int | None, age: float | None, dead_letters: int | None,
             stalled_after: float) -> tuple[str, ...]:
    """What is wrong, in the order the module docstring lists it (empty: healthy)."""
    stalled = lag is not None and lag > 0 and (age is None or age > stalled_after)
    found = {DOWN: not up, STALLED: up and stalled,
             DEAD_LETTERS: bool(dead_letters), UNKNOWN: lag is None or dead_letters is None}
    return tuple(problem for problem, holds in found.items() if holds)


@dataclass(frozen=True, slots=True)
class Health:
    at: datetime
    up: int | None  # the pid of the running `up`; None: none runs
    services: tuple[ServiceHealth, ...]

    @property
    def healthy(self) -> bool:
        return all(service.healthy for service in self.services)

    @property
    def unhealthy(self) -> list[str]:
        return [service.name for service in self.services if not service.healthy]

    def document(self) -> dict[str, Any]:
        """The report as `health --json` prints it."""
        return {"at": self.at.isoformat(), "healthy": self.healthy,
                "up": None if self.up is None else {"pid": self.up},
                "services": {s.name: s.document() for s in self.services}}
