"""Many CLI processes writing one stream at once: nothing lost, versions 1..N, no gaps.

Every process either succeeds or, having retried its bounded number of times, exits 1
with one line saying it gave up and wrote nothing. On SQLite writers queue on the
write lock (BEGIN IMMEDIATE); on PostgreSQL they clash on (stream, version) and retry.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from adapters.sql.tables import events, outbox
from services.bootstrap import Orderflow, bootstrap
from tests.conftest import Env, MakeEnv
from tests.support import CLI, CliResult, run_cli

PROCESSES = 20


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, make_env: MakeEnv) -> Env:
    env = make_env(request.param)
    result = run_cli(["db", "upgrade"], env.environ)
    assert result.code == 0, result.stderr
    return env


@pytest.fixture
def app(env: Env) -> Iterator[Orderflow]:
    orderflow = bootstrap(env.settings)
    yield orderflow
    orderflow.close()


def run_at_once(commands: list[list[str]], environ: dict[str, str],
                timeout: float = 120.0) -> list[CliResult]:
    """Start every command before waiting for any, as concurrent users would."""
    env = {**{k: v for k, v in os.environ.items()
              if not k.startswith(("ORDERFLOW_", "KAFKA_BOOTSTRAP"))}, **environ}
    processes = [subprocess.Popen([CLI, *args], env=env, text=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
                 for args in commands]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        results.append(CliResult(process.returncode, out, err))
    return results


def winners(results: list[CliResult]) -> list[dict[str, object]]:
    """The JSON documents of the processes that succeeded; every other one gave up cleanly."""
    documents = []
    for result in results:
        if result.code == 0:
            documents.append(json.loads(result.stdout))
            continue
        assert result.code == 1, result.stderr
        assert result.stderr.count("\n") == 1 and "gave up after" in result.stderr, result.stderr
        assert result.stdout == ""
    assert documents, "no process succeeded"
    return documents


def versions(app: Orderflow, store: str, stream: str) -> list[int]:
    with app.engine(store).connect() as connection:
        return list(connection.execute(
            sa.select(events.c.version).where(events.c.stream_id == stream)
            .order_by(events.c.version)).scalars())


def count(app: Orderflow, store: str, table: sa.Table) -> int:
    with app.engine(store).connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_concurrent_stock_adds_to_one_sku_lose_nothing(env: Env, app: Orderflow) -> None:
    # when 20 processes add 1 unit of the same SKU at the same time
    results = run_at_once([["stock", "add", "BOOK-1", "1", "--json"]] * PROCESSES, env.environ)
    done = winners(results)
    # then the stock holds exactly one unit per success, in versions 1..N without gaps
    n = len(done)
    assert versions(app, "inventory", "stock:BOOK-1") == list(range(1, n + 1))
    assert app.inventory().stock("BOOK-1").total == n
    # and each success saw its own append (no two wrote the same version)
    assert sorted(int(str(d["version"])) for d in done) == list(range(1, n + 1))
    assert all(d["total"] == d["version"] for d in done)
    assert count(app, "inventory", outbox) == n


# SQLite queues these writers on the same BEGIN IMMEDIATE lock the stock test already
# exercises; on PostgreSQL they really clash and retry, so that is where this one runs.
@pytest.mark.parametrize("env", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_concurrent_credit_sets_and_places_for_one_customer(env: Env, app: Orderflow) -> None:
    # when 10 processes set c1's credit and 10 place orders for c1, all at once
    half = PROCESSES // 2
    credit = [["credit", "set", "c1", f"{100 + i}", "--json"] for i in range(half)]
    places = [["place", "--flow", "choreography", "--customer", "c1", "--item", "BOOK-1=1",
               "--json"]] * half
    results = run_at_once([c for pair in zip(credit, places, strict=True) for c in pair],
                          env.environ)
    limits, orders = winners(results[0::2]), winners(results[1::2])
    # then the credit stream has one version per success, and the last one wins
    n = len(limits)
    assert versions(app, "payment", "credit:c1") == list(range(1, n + 1))
    by_version = {d["version"]: d["limit_cents"] for d in limits}
    assert sorted(by_version) == list(range(1, n + 1))
    assert app.payment().credit("c1").limit_cents == by_version[n]
    # and every order was placed once, in its own stream (orders never clash)
    order_ids = {str(d["order_id"]) for d in orders}
    assert len(orders) == len(order_ids) == half
    for order_id in order_ids:
        assert versions(app, "order", f"order:{order_id}") == [1]
    assert count(app, "order", events) == count(app, "order", outbox) == half
