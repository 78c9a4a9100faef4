"""`orderflow bench --cli`: how long the CLI takes to start, beside `python -c pass`.

Every run starts, as fresh processes, the bare interpreter and then `orderflow --help`,
`status ID`, `list` and `catalog`, interleaved so that a change in the machine's load
hits every command alike; one warm-up round is not counted (it fills the page cache).
The commands run against a scratch SQLite data dir, migrated and holding one projected
order, so `status` and `list` do their real work (bootstrap, store check, one query, a
table) and must exit 0. The figure is the wall-clock time of the whole process, what a
user waits for; it is measured here, never asserted in a timed test.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from adapters.records import Incoming
from adapters.settings import Settings
from experiments.bench.config import BenchError, Target
from experiments.bench.env import child_environ, machine
from experiments.bench.results import Document, verdicts
from experiments.bench.rig import Reporter
from experiments.bench.workload import sample_envelope
from services.bootstrap import Orderflow, bootstrap

BASELINE = "python -c pass"
TARGET_MS = 300.0
Commands = dict[str, list[str]]


def commands(order_id: str) -> Commands:
    """What is timed, by label: the interpreter alone, then the four quick commands."""
    cli = str(Path(sys.executable).with_name("orderflow"))
    return {BASELINE: [sys.executable, "-c", "pass"],
            "orderflow --help": [cli, "--help"],
            "orderflow status ID": [cli, "status", order_id],
            "orderflow list": [cli, "list"],
            "orderflow catalog": [cli, "catalog"]}


def startup(base: Settings, runs: int, reporter: Reporter) -> Document:
    began, load_before = time.monotonic(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="orderflow-cli-bench-") as scratch:
        settings = replace(base, data_dir=Path(scratch), database_url=None,
                           topic_prefix="cli-bench.")
        timed = commands(_seed(bootstrap(settings)))
        samples = _measure(timed, child_environ(settings), runs, reporter)
    run = {"id": uuid.uuid4().hex[:8], "kind": "cli", "machine": machine(), "runs": runs,
           "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
           "load_before": load_before, "load_after": os.getloadavg()[0],
           "seconds": time.monotonic() - began}
    return document(run, samples)


def _seed(app: Orderflow) -> str:
    """Migrate the scratch stores and project one placed order; return its id."""
    try:
        app.upgrade()
        order_id, envelope = sample_envelope(app.catalog)
        with app.store("projector").begin() as connection:
            app.projector().handle(connection, Incoming(envelope, app.topic("orders"), 0, 0))
        return order_id
    finally:
        app.close()


def _measure(timed: Commands, environ: dict[str, str], runs: int,
             reporter: Reporter) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {label: [] for label in timed}
    for index in range(runs + 1):  # round 0 warms the page cache and is not counted
        for label, argv in timed.items():
            elapsed = wall_ms(argv, environ)
            if index:
                samples[label].append(elapsed)
        reporter.progress("CLI start-up runs", index, runs)
    return samples


def wall_ms(argv: list[str], environ: dict[str, str]) -> float:
    """Milliseconds from spawning the process to its exit; a failure is an error."""
    began = time.perf_counter()
    done = subprocess.run(argv, env=environ, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = (time.perf_counter() - began) * 1000
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["nothing"]
        command = " ".join([Path(argv[0]).name, *argv[1:]])
        raise BenchError(f"`{command}` exited {done.returncode}: {said[0]}")
    return elapsed


def document(run: Document, samples: dict[str, list[float]]) -> Document:
    base = statistics.median(samples[BASELINE])
    figures = {label: {"best_ms": min(ms), "median_ms": statistics.median(ms),
                       "max_ms": max(ms), "over_python_ms": statistics.median(ms) - base,
                       "runs": len(ms)} for label, ms in samples.items()}
    result: Document = {"run": run, "startup": figures}
    result["targets"] = verdicts(_targets(samples), result)
    return result


def _targets(samples: dict[str, list[float]]) -> list[Target]:
    return [Target(f"{label} (median)", ("startup", label, "median_ms"), TARGET_MS, False, "ms")
            for label in samples if label != BASELINE]
