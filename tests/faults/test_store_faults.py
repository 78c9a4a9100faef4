"""Scenario 9: the stores fail under the running system while orders of both flows flow.

PostgreSQL: the server restarts (`pg_ctl restart -m fast`) and every connection of the
services is terminated (`pg_terminate_backend`). SQLite: COMMITs fail at random points in
every process (ORDERFLOW_FAULT_COMMIT) and are rolled back. Every loop backs off and
tries again, so no service dies (Fleet.tend accepts only injected deaths) and nothing is
lost or done twice.

Restarting needs the server's data directory and binaries (ORDERFLOW_TEST_PGDATA and
ORDERFLOW_TEST_PGBIN, exported by .ci/run when it starts PostgreSQL itself). Without them
CI fails; elsewhere only the restarts are left out, with the reason in the figures.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
import warnings
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from services.bootstrap import Orderflow
from tests.conftest import Env
from tests.faults.checks import Figures, check_everything, longest_stall
from tests.faults.harness import ALL, Fleet, Placer, settle
from tests.faults.scale import Scale, scale
from tests.integration.test_exactly_once import Broker, Path, mix

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(scale().test_timeout)]
PGDATA, PGBIN = "ORDERFLOW_TEST_PGDATA", "ORDERFLOW_TEST_PGBIN"
RETRIED = ("failed (", "retry")  # adapters/retry.py: one line per failure of a loop
INJECTED = "fault injected: commit failure"
TERMINATE = sa.text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid() AND application_name = :tag")


def server() -> tuple[str, str] | None:
    """(data directory, binaries) of the PostgreSQL under test; None outside CI."""
    pgdata, pgbin = os.environ.get(PGDATA), os.environ.get(PGBIN)
    if pgdata and pgbin:
        return pgdata, pgbin
    if os.environ.get("CI"):
        pytest.fail(f"CI must export {PGDATA} and {PGBIN} (.ci/run does when it starts PostgreSQL)")
    return None


def started(app: Orderflow) -> datetime:
    with app.store("order").connect() as connection:
        moment: datetime = connection.execute(sa.text("SELECT pg_postmaster_start_time()")).one()[0]
    return moment


def restart(app: Orderflow, pgdata: str, pgbin: str) -> None:
    before = started(app)
    command = f"{pgbin}/pg_ctl -D {pgdata} -l {pgdata}/server.log -m fast -w restart"
    as_owner = ["su", "postgres", "-s", "/bin/sh", "-c"] if os.geteuid() == 0 else ["sh", "-c"]
    subprocess.run([*as_owner, command], check=True, capture_output=True, timeout=120)
    assert started(app) > before, f"{PGDATA}={pgdata} is not the server under test"


def terminate(app: Orderflow, tag: str) -> int:
    """Terminate every backend of the fleet (the test's own connections stay)."""
    with app.store("order").connect() as connection:
        killed = sum(bool(k) for k in connection.execute(TERMINATE, {"tag": tag}).scalars())
    assert killed > 0, f"no backend named {tag!r}: is PGAPPNAME reaching the services?"
    return killed


def placing(env: Env, size: Scale) -> Placer:
    """Orders of both flows in small bursts, spread over the time the faults take."""
    window = (size.pg_restarts + size.pg_terminations) * sum(size.kill_interval) / 2
    placer = Placer(env, mix(size.store_orders), burst=max(1, size.store_orders // 40),
                    pause=window / 40)
    placer.start()
    return placer


def survived(app: Orderflow, broker: Broker, fleet: Fleet, placed: dict[str, Path],
             added: dict[str, int], figures: Figures) -> dict[str, Any]:
    settle(app, broker, placed, fleet, scale().settle_timeout)
    check_everything(app, broker, placed, added, figures)
    assert fleet.restarts == 0, f"services died: {dict(fleet.crashes)}"
    return {"retries_logged": fleet.lines(*RETRIED), "rebalances": fleet.rebalances(),
            "longest_stall_seconds": longest_stall(app, placed)}


@pytest.mark.postgres
@pytest.mark.store("postgresql")
def test_postgresql_restarted_and_its_connections_terminated(
        env: Env, app: Orderflow, fleet: Fleet, broker: Broker, added: dict[str, int],
        figures: Figures) -> None:
    size, chance, given = scale(), random.Random(), server()
    faults = ["restart"] * (size.pg_restarts if given else 0) + ["kill"] * size.pg_terminations
    if given is None:
        reason = f"restarts skipped: {PGDATA} and {PGBIN} are not set"
        figures.record(skipped=reason)
        warnings.warn(reason, stacklevel=1)
    chance.shuffle(faults)
    tag = f"orderflow-faults-{env.settings.topic_prefix}"  # libpq names each connection
    fleet.start(ALL, {"PGAPPNAME": tag})
    fleet.wait_up()
    placer, terminated = placing(env, size), 0
    for fault in faults:
        time.sleep(chance.uniform(*size.kill_interval))  # the deliberate random interval
        if fault == "restart":
            assert given is not None
            with placer.hold:  # the placing CLI user is not the fault under test
                restart(app, *given)
        else:
            terminated += terminate(app, tag)
    placed = placer.result(size.settle_timeout)
    figures.record(restarts=faults.count("restart"), terminations=faults.count("kill"),
                   backends_terminated=terminated,
                   **survived(app, broker, fleet, placed, added, figures))


@pytest.mark.store("sqlite")
def test_sqlite_commits_fail_at_random(env: Env, app: Orderflow, fleet: Fleet, broker: Broker,
                                       added: dict[str, int], figures: Figures) -> None:
    size = scale()
    fleet.start(ALL, {"ORDERFLOW_FAULT_COMMIT": f"{size.commit_chance}:{size.commit_most}"})
    placed = placing(env, size).result(size.settle_timeout)
    facts = survived(app, broker, fleet, placed, added, figures)
    failed = {name: fleet.log(name).count(INJECTED) for name in ALL}
    figures.record(commit_failures=sum(failed.values()), per_process=failed, **facts)
    assert sum(failed.values()) >= size.commit_failures, failed
