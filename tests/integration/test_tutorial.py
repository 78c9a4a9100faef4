"""The Kafka tutorial's output, exactly, from our producer and from a plain one."""

import json
import subprocess

import pytest
from confluent_kafka import Producer

from tests.conftest import MakeEnv
from tests.support import CLI, run_cli

pytestmark = [pytest.mark.kafka, pytest.mark.store_independent]
LINE = "Order order-123 received with status created\n"


def test_tutorial_prints_exactly_its_line_on_every_run(kafka: str, make_env: MakeEnv) -> None:
    env = make_env(bootstrap=kafka)
    for _ in range(2):
        result = run_cli(["tutorial"], env.environ)
        assert result.code == 0, result.stderr
        assert result.stdout == LINE


def test_listen_prints_matching_records_from_a_plain_producer(kafka: str, make_env: MakeEnv,
                                                              prefix: str) -> None:
    env = make_env(bootstrap=kafka)
    assert run_cli(["topics", "create"], env.environ).code == 0
    listener = subprocess.Popen([CLI, "tutorial", "listen", "--timeout", "4"],
                                env={**_base_env(), **env.environ}, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert listener.stderr is not None
    assert "listening" in listener.stderr.readline()  # assigned: nothing after this is missed
    producer = Producer({"bootstrap.servers": kafka})
    for key, status in [("order-1", "created"), ("order-2", "shipped"), ("order-3", "created")]:
        producer.produce(f"{prefix}orders", key=key, value=json.dumps({"status": status}))
    producer.produce(f"{prefix}orders", key="junk", value=b"\xff not json")
    assert producer.flush(30) == 0
    out, _ = listener.communicate(timeout=60)
    assert listener.returncode == 0
    assert sorted(out.splitlines()) == ["Order order-1 received with status created",
                                "Order order-3 received with status created"]


def test_listen_from_beginning_with_another_status(kafka: str, make_env: MakeEnv) -> None:
    env = make_env(bootstrap=kafka)
    assert run_cli(["tutorial"], env.environ).stdout == LINE
    shipped = run_cli(["tutorial", "listen", "--from-beginning", "--listen-status", "shipped",
                       "--timeout", "6"], env.environ)
    assert shipped.code == 0 and shipped.stdout == ""
    created = run_cli(["tutorial", "listen", "--from-beginning", "--timeout", "6"], env.environ)
    assert created.stdout == LINE


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items()
            if not k.startswith(("ORDERFLOW_", "KAFKA_BOOTSTRAP"))}
