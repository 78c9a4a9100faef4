"""`orderflow tail` against a real broker: what the run's topics carry, one line each,
decoded (or said undecodable), filtered by order and flow, ending after a quiet spell."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Producer

from services.bootstrap import bootstrap
from tests.conftest import Env, MakeEnv
from tests.support import CliResult, run_cli, wait_until

pytestmark = pytest.mark.kafka


@pytest.fixture
def env(kafka: str, make_env: MakeEnv) -> Env:
    made = make_env("sqlite", bootstrap=kafka)
    for args in (["db", "upgrade"], ["topics", "create"]):
        assert run_cli(args, made.environ).code == 0
    return made


def placed(env: Env) -> str:
    """An order placed by the CLI, published by the order store's relay."""
    done = run_cli(["place", "--flow", "choreography", "--customer", "c1", "--item",
                    "BOOK-1=2", "--json"], env.environ)
    assert done.code == 0, done.stderr
    app = bootstrap(env.settings)
    relay = app.relay("order")
    try:
        wait_until(lambda: relay.publish_pending() == 0 and relay.pending() == 0, 30,
                   "the relay to publish the order")
    finally:
        relay.close()
        app.close()
    return str(json.loads(done.stdout)["order_id"])


def tailed(env: Env, *args: str) -> CliResult:
    result = run_cli(["tail", "--from-beginning", "--timeout", "1.5", *args], env.environ)
    assert result.code == 0, result.stderr
    return result


def test_tail_prints_every_message_decoded_and_the_undecodable_too(env: Env) -> None:
    order_id = placed(env)
    producer = Producer({"bootstrap.servers": env.settings.bootstrap_servers})
    producer.produce(env.settings.topic_prefix + "payments", key=b"junk", value=b"{oops")
    assert producer.flush(30) == 0
    lines = [json.loads(line) for line in tailed(env, "--json").stdout.splitlines()]
    placed_line = [s for s in lines if s["type"] == "order.placed.v2"]
    assert [(s["topic"], s["order_id"], s["flow"]) for s in placed_line] == [
        ("orders", order_id, "choreography")]
    junk = [s for s in lines if s["type"] is None]
    assert [(s["topic"], s["order_id"]) for s in junk] == [("payments", "junk")]
    assert "not valid UTF-8 JSON" in junk[0]["error"]
    text = tailed(env).stdout
    assert f"order.placed.v2  {order_id[:8]}" in text and "UNDECODABLE" in text


def test_tail_filters_by_order_and_flow(env: Env) -> None:
    first, second = placed(env), placed(env)
    mine = [json.loads(line)["order_id"]
            for line in tailed(env, "--json", "--order", second[:8]).stdout.splitlines()]
    assert mine == [second] and first != second
    assert tailed(env, "--flow", "orchestration").stdout == ""


def test_tail_refuses_an_unknown_flow_in_one_line(env: Env) -> None:
    result = run_cli(["tail", "--flow", "sideways"], env.environ)
    assert result.code == 2 and result.stdout == "" and len(result.stderr.splitlines()) == 1
