"""Helpers shared by the test suites: run the CLI like a user, find free ports."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from adapters.kafka.admin import PortState, probe
from adapters.kafka.broker import LocalBroker
from adapters.settings import PROJECT_ROOT

CLI = str(Path(sys.executable).with_name("orderflow"))
T = TypeVar("T")


# CI runs the SQLite and the PostgreSQL suites side by side: each draws its brokers' ports
# from its own half, so neither takes a port the other's stopped node will bind again.
_PORTS = {"sqlite": (20000, 26000), "postgresql": (26000, 32000)}


FAULT_KAFKA = {"plain": (1, False), "secure-3": (3, True)}  # mode → (nodes, secure)


def fault_kafka() -> tuple[int, bool]:
    """The Kafka the fault suite runs on: one plaintext node, or (`make faults`'s second
    pass, ORDERFLOW_FAULT_KAFKA=secure-3) a secured cluster of three with its ACLs."""
    mode = os.environ.get("ORDERFLOW_FAULT_KAFKA", "plain")
    if mode not in FAULT_KAFKA:
        raise RuntimeError(f"ORDERFLOW_FAULT_KAFKA={mode!r}: choose {', '.join(FAULT_KAFKA)}")
    return FAULT_KAFKA[mode]


def dedicated_cluster(home: Path, nodes: int | None = None) -> LocalBroker:
    """A broker of a test's own, in the fault suite's mode (`nodes` overrides its count)."""
    count, secure = fault_kafka()
    nodes = nodes or count
    return LocalBroker(cache_dir=PROJECT_ROOT / ".cache", port=free_port_pair(nodes),
                       nodes=nodes, secure=secure, home=home)


def free_port_pair(nodes: int = 1) -> int:
    """A port p with p … p+2·nodes-1 free (each node's broker and controller), below the
    ephemeral range so that no client socket grabs one between this check and the bind."""
    low, high = _PORTS.get(os.environ.get("ORDERFLOW_TEST_STORE", ""), (20000, 32000))
    for _ in range(200):
        port = random.randrange(low, high - 2 * nodes)
        block = range(port, port + 2 * nodes)
        if all(probe(f"127.0.0.1:{p}", 0.5) is PortState.FREE for p in block):
            return port
    raise RuntimeError("no free block of ports found")


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def user_environ(environ: dict[str, str]) -> dict[str, str]:
    """This process's environment without its own orderflow settings, plus `environ`."""
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(("ORDERFLOW_", "KAFKA_"))}
    return {**inherited, **environ}


def run_cli(args: list[str], environ: dict[str, str], timeout: float = 120.0) -> CliResult:
    """Run the installed `orderflow` console script as a user would."""
    done = subprocess.run([CLI, *args], capture_output=True, text=True,
                          env=user_environ(environ), timeout=timeout, check=False)
    return CliResult(done.returncode, done.stdout, done.stderr)


def stopped(pid: int) -> bool:
    """The process is in state T (stopped by a signal), as /proc says."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def wait_until(condition: Callable[[], T | None], timeout: float, what: str,
               interval: float = 0.05) -> T:
    """Poll until `condition` returns something truthy, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class ManualClock:
    """The clock of service processes started with `environ` (ORDERFLOW_FAULT_CLOCK_FILE):
    the wall clock plus whatever `advance` added. A test moves time on once its premise
    holds, so "answered before the deadline" is true by construction, not by a race."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0.0
        path.write_text("0")

    @property
    def environ(self) -> dict[str, str]:
        return {"ORDERFLOW_FAULT_CLOCK_FILE": str(self.path)}

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.path.write_text(str(self.offset))


def projected_stores(data_dir: Path, monkeypatch: Any, records: Iterable[Any],
                     prefix: str) -> None:
    """Migrated SQLite stores under `data_dir`, for in-process CLI runs without a broker,
    their read models fed `records` (Incoming) by the projector itself."""
    from cli.main import run
    from projections.projector import Projector
    from services.bootstrap import bootstrap

    for name in ("ORDERFLOW_DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ORDERFLOW_TOPIC_PREFIX", prefix)
    assert run(["db", "upgrade"]) == 0
    orderflow = bootstrap()
    with orderflow.store("projector").begin() as connection:
        for record in records:
            Projector(prefix).handle(connection, record)
    orderflow.close()


class InThread:
    """A loop that takes a stop event (a consumer runtime's or a relay's `run`), on a
    thread of its own from construction until `close`."""

    def __init__(self, run: Callable[[threading.Event], None]) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


# A comparison's results without Kafka, for the HTML report's tests: each flow's happy
# path as a real run's order_timeline recorded it — (service, type, topic, index of the
# causing row) — with every path as expected, and latencies of a paced batch.
SAMPLE_TRACES: dict[str, list[tuple[str, str, str, int | None]]] = {
    "choreography": [
        ("order", "order.placed.v2", "orders", None),
        ("inventory", "inventory.stock-reserved.v1", "inventory", 0),
        ("payment", "payment.authorized.v1", "payments", 1),
        ("shipping", "shipping.shipment-scheduled.v1", "shipping", 2),
        ("order", "order.confirmed.v1", "orders", 3)],
    "orchestration": [
        ("order", "order.placed.v2", "orders", None),
        ("orchestrator", "inventory.reserve-stock.v1", "inventory.commands", 0),
        ("orchestrator", "saga.progressed.v1", "sagas", None),
        ("inventory", "inventory.stock-reserved.v1", "inventory", 1),
        ("orchestrator", "payment.authorize.v1", "payments.commands", 3),
        ("payment", "payment.authorized.v1", "payments", 4),
        ("orchestrator", "shipping.schedule-shipment.v1", "shipping.commands", 5),
        ("shipping", "shipping.shipment-scheduled.v1", "shipping", 6),
        ("orchestrator", "order.confirm.v1", "orders.commands", 7),
        ("order", "order.confirmed.v1", "orders", 8),
        ("orchestrator", "saga.progressed.v1", "sagas", 9)],
}
SAMPLE_LATENCIES = {"choreography": [38.0, 41.5, 44.0, 47.2, 52.9, 55.0, 61.3, 70.8, 93.1],
                    "orchestration": [96.0, 131.0, 170.2, 204.4, 298.7, 365.0, 402.9, 488.3]}


class SampleReader:
    """The read models' `timeline` for the sample results' happy-path orders."""

    def __init__(self) -> None:
        self.timelines = {f"{flow}-happy": sample_timeline(flow) for flow in SAMPLE_TRACES}

    def order(self, order_id: str) -> dict[str, Any] | None:
        return None

    def timeline(self, order_id: str) -> list[dict[str, Any]]:
        return self.timelines.get(order_id, [])


def sample_timeline(flow: str) -> list[dict[str, Any]]:
    rows = SAMPLE_TRACES[flow]
    return [{"service": service, "type": wire, "topic": topic, "event_id": f"{flow}-{n}",
             "causation_id": None if cause is None else f"{flow}-{cause}"}
            for n, (service, wire, topic, cause) in enumerate(rows)]


def sample_results() -> dict[str, Any]:
    """flow → FlowResult, as `Comparison.run` returns them."""
    from experiments.compare import PLACED, SCENARIOS, FlowResult, coupling

    results = {}
    for flow, latencies in SAMPLE_LATENCIES.items():
        orders = {s.name: f"{flow}-{s.name}" for s in SCENARIOS} | {PLACED[0].name: f"{flow}-happy"}
        results[flow] = FlowResult(
            flow, outcomes={s.name: s.expected for s in SCENARIOS}, scenario_orders=orders,
            batch=[f"{flow}-{n}" for n in range(len(latencies))], rate=10.0, warmup=5,
            latencies_ms=latencies, messages_per_order={"orders": 2.0, "inventory": 1.0},
            coupling=coupling(sample_timeline(flow)), late_reply=["authorized", "voided"])
    return results
