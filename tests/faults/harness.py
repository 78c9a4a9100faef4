"""The system under faults: service instances as OS processes that a test kills,
pauses and restarts, and a tender that restarts whatever died while the test waits."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path as FilePath

from services.bootstrap import Orderflow
from tests.conftest import Env, MakeEnv
from tests.integration.saga_world import PATIENT
from tests.integration.test_exactly_once import (
    SERVICES,
    Broker,
    Path,
    caught_up,
    input_topics,
    opened,
    outcomes,
    place_all,
    prepare,
    unpublished,
)
from tests.support import wait_until
from tests.system import RunningSystem

ALL = (*SERVICES, "projector")  # every process of the system, the read models' too
EXTRA_BOOKS = 20_000  # on top of prepare()'s stock: no order is refused for lack of books
# PATIENT deadlines are beyond any scenario's wait: a restarted consumer may wait out a
# dead member's session (10 s) several times in a row, and the orders must survive that.
# An order that does not end is then stuck (settle times out), never "expired" by a race.


def seeded(make_env: MakeEnv, kafka: str | Mapping[str, str], store: str,
           **timeouts: str) -> tuple[Env, dict[str, int]]:
    """A migrated, seeded environment, and the units added per SKU."""
    env = prepare(make_env, kafka, store, **{**PATIENT, **timeouts})
    with opened(env) as app:
        app.inventory().add_stock("BOOK-1", EXTRA_BOOKS)
        added = {"BOOK-1": app.inventory().stock("BOOK-1").total,
                 "MUG-1": app.inventory().stock("MUG-1").total}
    return env, added


class Fleet(RunningSystem):
    """A RunningSystem that counts what the test did to it, and remembers the fault
    environment each instance was started with, so a restart can arm it again."""

    def __init__(self, environ: dict[str, str], log_dir: FilePath) -> None:
        super().__init__(environ, log_dir)
        self.armed: dict[str, dict[str, str]] = {}  # instance -> extra env it runs with
        self.kills = 0
        self.crashes: Counter[str] = Counter()  # instance -> injected exits (137)
        self.restarts = 0

    def start(self, instances: Iterable[str], extra_env: dict[str, str] | None = None) -> None:
        for name in instances:
            self.armed[name] = dict(extra_env or {})
            super().start([name], self.armed[name])

    def up(self, name: str) -> bool:
        """Running (stop handlers installed), or already dead."""
        process = self.processes[name]
        return process.poll() is not None or ": running (" in self.log(name)

    def wait_up(self, timeout: float = 90) -> None:
        """Every instance past its start-up checks (a service refuses to start without a
        broker, by design: broker faults begin once everything runs)."""
        wait_until(lambda: all(map(self.up, self.processes)), timeout, "every instance up")

    def kill(self, name: str) -> None:
        super().kill(name)
        self.kills += 1

    def stop(self, names: Iterable[str] | None = None) -> dict[str, int]:
        """SIGTERM, once each is up: a SIGTERM before its stop handlers exist kills it."""
        chosen = list(self.processes) if names is None else list(names)
        for name in chosen:
            wait_until(lambda name=name: self.up(name), 60, f"{name} to be up")  # type: ignore[misc]
        return super().stop(chosen)

    def tend(self, rearm: Callable[[str], dict[str, str]] | None = None) -> None:
        """Restart every instance that died on its own (an injected fault)."""
        for name, process in list(self.processes.items()):
            code = process.poll()
            if code is None:
                continue
            assert code == 137, f"{name} exited with {code}: see {self.log_dir / name}.log"
            self.crashes[name] += 1
            del self.processes[name]
            self.restarts += 1
            self.start([name], rearm(name) if rearm else {})

    def rebalances(self) -> int:
        """Partition assignments logged by every instance since the test began."""
        return self.lines(": assigned ")

    def lines(self, *needles: str) -> int:
        """Log lines of every instance (restarts included) that hold every needle."""
        return sum(all(needle in line for needle in needles)
                   for path in self.log_dir.glob("*.log")
                   for line in path.read_text(errors="replace").splitlines())


def fleet(env: Env, logs: FilePath) -> Iterator[Fleet]:
    """A Fleet the test starts; whatever is left stops cleanly (exit 0) at the end."""
    running = Fleet(env.environ, logs)
    yield running
    codes = running.stop()
    assert all(code == 0 for code in codes.values()), codes


def settle(app: Orderflow, broker: Broker, placed: dict[str, Path], fleet: Fleet,
           timeout: float, rearm: Callable[[str], dict[str, str]] | None = None) -> None:
    """Every order ends, every saga ends, and every process (projector included) has
    applied everything: while waiting, whatever dies is restarted."""
    def ended() -> bool:
        fleet.tend(rearm)
        return len(outcomes(app, placed)) == len(placed)

    wait_until(ended, timeout, f"{len(placed)} orders to end", interval=0.2)
    orchestrated = [o for o in placed if app.orchestrator().saga(o) is not None]

    def sagas_ended() -> bool:
        fleet.tend(rearm)
        return all(app.orchestrator().saga(o).is_terminal  # type: ignore[union-attr]
                   for o in orchestrated)

    wait_until(sagas_ended, timeout, "every saga to end", interval=0.2)
    topics = input_topics(app, ALL)
    every = sorted({t for names in topics.values() for t in names})

    def idle() -> bool:
        fleet.tend(rearm)
        before = broker.high_watermarks(every)
        if not caught_up(app, broker, topics) or unpublished(app, ALL):  # dead letters too
            return False
        return broker.high_watermarks(every) == before

    wait_until(idle, timeout, "the system to be idle", interval=0.2)


class Placer(threading.Thread):
    """Places orders in the background (in-process, as the CLI would), in small bursts."""

    def __init__(self, env: Env, orders: list[tuple[Path, str]], burst: int = 10,
                 pause: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.env, self.orders, self.burst, self.pause = env, orders, burst, pause
        self.placed: dict[str, Path] = {}
        self.error: BaseException | None = None
        self.hold = threading.Lock()  # held by a test while the store is away: no burst then
        self._idle = threading.Event()

    def run(self) -> None:
        try:
            with opened(self.env) as app:
                for start in range(0, len(self.orders), self.burst):
                    with self.hold:
                        self.placed |= place_all(app, self.orders[start:start + self.burst])
                    self._idle.wait(self.pause)
        except BaseException as exc:  # reported by result()
            self.error = exc

    def result(self, timeout: float) -> dict[str, Path]:
        self.join(timeout)
        assert not self.is_alive(), "placing orders did not finish"
        if self.error is not None:
            raise self.error
        return self.placed
