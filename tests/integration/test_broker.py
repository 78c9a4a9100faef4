"""The local broker: start, idempotent start, stop, restart with topics and data kept."""

import json
import socket
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from adapters.kafka.admin import PortState, create_topics, probe
from adapters.kafka.broker import LocalBroker
from adapters.kafka.errors import BrokerError
from adapters.kafka.jars import KAFKA_VERSION
from adapters.kafka.topics import TopicSpec
from adapters.settings import PROJECT_ROOT
from tests.support import free_port_pair, run_cli

pytestmark = [pytest.mark.kafka, pytest.mark.store_independent]
CACHE = PROJECT_ROOT / ".cache"


def _read_all(address: str, topic: str) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": address, "group.id": "t",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = [m.value() for m in consumer.consume(num_messages=10, timeout=10) if not m.error()]
    consumer.close()
    return values


def _produce(address: str, topic: str, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": address, "acks": "all"})
    producer.produce(topic, key=b"k", value=value)
    assert producer.flush(30) == 0


def test_start_stop_restart_keeps_topics_and_data(tmp_path: Path) -> None:
    broker = LocalBroker(cache_dir=CACHE, port=free_port_pair(), home=tmp_path / "broker")
    status, started = broker.start()
    try:
        assert started and status.state == "running" and status.version == KAFKA_VERSION
        assert broker.start()[1] is False  # idempotent: the running broker is reused
        assert _cli_status(broker, tmp_path) == 0  # running: exit 0, as `pg_ctl status`
        create_topics(broker.address, [TopicSpec("kept", 1)])
        _produce(broker.address, "kept", b"survives a restart")
        assert broker.stop().startswith("stopped")
        assert broker.status().state == "stopped"
        assert _cli_status(broker, tmp_path) == 3  # stopped: exit 3
        assert probe(broker.address, 2) is PortState.FREE
        assert broker.start()[1] is True
        assert _read_all(broker.address, "kept") == [b"survives a restart"]
    finally:
        broker.stop()
    assert broker.stop() == "not running"


def _cli_status(broker: LocalBroker, cache: Path) -> int:
    """`orderflow broker status` on the broker's port (it sees the broker as running,
    or as a broker it did not start, since the test's broker has its own home)."""
    done = run_cli(["broker", "status", "--port", str(broker.port)],
                   {"ORDERFLOW_CACHE_DIR": str(cache / "cli-cache")})
    assert done.stderr == "" and done.stdout.count("\n") == 1, done
    return done.code


def test_port_taken_by_another_program_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        broker = LocalBroker(cache_dir=CACHE, port=port, home=tmp_path / "b")
        with pytest.raises(BrokerError, match=f"port {port} on 127.0.0.1 is already in use"):
            broker.start()
    assert not (tmp_path / "b" / "broker.pid").exists()


def test_a_broker_that_does_not_become_ready_points_to_its_log(tmp_path: Path) -> None:
    broker = LocalBroker(cache_dir=CACHE, port=free_port_pair(), home=tmp_path / "slow")
    with pytest.raises(BrokerError, match=r"did not become ready.*server\.log"):
        broker.start(timeout=0.05)
    assert broker.status().state == "stopped"


def test_missing_java_and_missing_maven_are_one_line_each(tmp_path: Path) -> None:
    port = str(free_port_pair())
    no_java = run_cli(["broker", "start", "--port", port],
                      {"JAVA_HOME": str(tmp_path / "nojdk"), "ORDERFLOW_CACHE_DIR": str(tmp_path)})
    assert no_java.code == 1
    assert no_java.stderr.strip().endswith("install a JDK 17 or newer")
    no_mvn = run_cli(["broker", "start", "--port", port],
                     {"PATH": "/nonexistent", "JAVA_HOME": _java_home(),
                      "ORDERFLOW_CACHE_DIR": str(tmp_path / "empty-cache")})
    assert no_mvn.code == 1 and "Maven (mvn) is not on PATH" in no_mvn.stderr
    assert no_mvn.stderr.count("\n") == 1


def _java_home() -> str:
    import shutil

    java = shutil.which("java")
    assert java is not None
    return str(Path(java).resolve().parents[1])


def test_a_three_node_cluster_from_the_cli_replicates_and_reports_each_node(
        tmp_path: Path) -> None:
    """`broker start --nodes 3`, as a user runs it (its own cache, the jars shared)."""
    cache = tmp_path / "cache"
    (cache / "kafka").mkdir(parents=True)
    (cache / "kafka" / KAFKA_VERSION).symlink_to(CACHE / "kafka" / KAFKA_VERSION)
    port = free_port_pair(3)
    environ = {"ORDERFLOW_CACHE_DIR": str(cache), "KAFKA_BOOTSTRAP_SERVERS": ""}
    args = ["--nodes", "3", "--port", str(port)]
    started = run_cli(["broker", "start", *args, "--json"], environ)
    cluster = LocalBroker(cache_dir=cache, port=port, nodes=3)
    try:
        assert started.code == 0, started
        document = json.loads(started.stdout)
        assert document["address"] == cluster.address == ",".join(
            f"127.0.0.1:{port + 2 * n}" for n in range(3))
        assert [(n["node_id"], n["address"], n["state"]) for n in document["nodes"]] == [
            (n + 1, f"127.0.0.1:{port + 2 * n}", "running") for n in range(3)]
        assert all(isinstance(n["pid"], int) for n in document["nodes"])
        create_topics(cluster.address, [TopicSpec("replicated", 3)])
        _assert_replicated(cluster.address, "replicated")
        cluster.node(2).kill()
        # gone means its ports are closed: a JVM's main thread turns zombie while its other
        # threads still hold the listeners, and a restart at once found the port taken
        assert probe(cluster.node(2).address, 1.0) is PortState.FREE
        degraded = run_cli(["broker", "status", *args, "--json"], environ)
        assert degraded.code == 1  # some nodes down
        assert [n["state"] for n in json.loads(degraded.stdout)["nodes"]] == \
            ["running", "stopped", "running"]
        _produce(cluster.address, "replicated", b"written with a node down")
        assert run_cli(["broker", "start", *args], environ).code == 0  # brings node 2 back
        assert cluster.status().state == "running"
    finally:
        stopped = run_cli(["broker", "stop", *args], environ)
    assert stopped.code == 0 and "stopped (pids " in stopped.stdout
    assert cluster.status().state == "stopped"


def _assert_replicated(address: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": address})
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
    assert sorted(len(p.replicas) for p in partitions) == [3, 3, 3]
    described = admin.describe_configs([ConfigResource("topic", topic)])
    config = next(iter(described.values())).result()
    assert config["min.insync.replicas"].value == "2"
