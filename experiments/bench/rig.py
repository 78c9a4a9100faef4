"""What every measured phase works with: the running system and ways to wait on it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from experiments.bench.config import BenchError
from experiments.bench.kafka import Watermarks
from experiments.bench.procs import Fleet
from experiments.bench.store import Board
from experiments.bench.workload import Workload
from services.bootstrap import Orderflow

POLL = 0.25  # seconds between polls: the figures come from event times, not from polling


class Reporter(Protocol):
    def progress(self, label: str, done: float, total: float) -> None: ...
    def note(self, text: str) -> None: ...


@dataclass
class Rig:
    app: Orderflow
    board: Board
    fleet: Fleet
    workload: Workload
    marks: Watermarks
    reporter: Reporter
    pids: dict[str, int]  # every process whose CPU time counts: services, placer, broker
    stall_timeout: float
    placers: int  # placer processes in a burst (the bench process counts their CPU)

    def await_settled(self, flow: str, since: str, expected: int, label: str) -> None:
        """Poll order_view until `expected` of this phase's orders are final. Stuck means
        neither that count nor the projector's position moved for `stall_timeout`."""
        done, last, changed = 0, (-1, -1), time.monotonic()
        while done < expected:
            self.fleet.check()
            done = self.board.settled(flow, since)
            self.reporter.progress(label, done, expected)
            now = (done, self.board.position())
            if now != last:
                last, changed = now, time.monotonic()
            elif time.monotonic() - changed > self.stall_timeout:
                raise BenchError(f"{label}: stuck at {done} of {expected} for "
                                 f"{self.stall_timeout:.0f}s; see {self.fleet.log_dir}")
            time.sleep(POLL)

    def quiesce(self, timeout: float = 15.0) -> int:
        """Wait until no topic of the run grows any more; return the watermark sum."""
        last, deadline = self.marks.total(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.marks.total()
            if now == last:
                break
            last = now
        return last
