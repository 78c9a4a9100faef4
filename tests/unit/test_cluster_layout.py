"""The local cluster's layout: ports, quorum, replication, and the node counts refused."""

from pathlib import Path

import pytest

from adapters.kafka.admin import replication
from adapters.kafka.broker import Layout, LocalBroker, check_nodes
from adapters.kafka.errors import BrokerError
from tests.support import run_cli


def test_three_nodes_listen_two_ports_apart_and_form_one_quorum() -> None:
    layout = Layout(9092, 3)
    assert layout.bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    node2 = layout.properties(2, Path("/d"))
    assert node2["node.id"] == "2"
    assert node2["listeners"] == "PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert node2["controller.quorum.voters"] == \
        "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    assert node2["process.roles"] == "broker,controller"


@pytest.mark.parametrize(("nodes", "factor", "insync"), [(1, "1", "1"), (3, "3", "2"),
                                                          (5, "3", "2")])
def test_replication_is_min_three_nodes_with_one_replica_allowed_behind(
        nodes: int, factor: str, insync: str) -> None:
    settings = Layout(29092, nodes).properties(1, Path("/d"))
    for key in ("default.replication.factor", "offsets.topic.replication.factor",
                "transaction.state.log.replication.factor"):
        assert settings[key] == factor
    assert settings["min.insync.replicas"] == settings["transaction.state.log.min.isr"] == insync
    assert replication(nodes) == (int(factor), {"min.insync.replicas": insync})


def test_one_node_keeps_its_old_home_and_a_cluster_gets_one_per_node(tmp_path: Path) -> None:
    assert LocalBroker(cache_dir=tmp_path, port=9092).nodes[0].home == tmp_path / "broker/9092"
    homes = [n.home for n in LocalBroker(cache_dir=tmp_path, port=9092, nodes=3).nodes]
    assert homes == [tmp_path / f"broker/9092-3nodes/node-{n}" for n in (1, 2, 3)]


@pytest.mark.parametrize(("nodes", "why"), [(0, "at least one node"), (2, "an odd number"),
                                            (10, "at most 5 nodes")])
def test_a_node_count_a_quorum_cannot_have_is_refused(nodes: int, why: str) -> None:
    with pytest.raises(BrokerError, match=why):
        check_nodes(nodes)


def test_the_last_node_must_fit_below_port_65536() -> None:
    assert Layout(65530, 3).controller_port(3) == 65535
    with pytest.raises(BrokerError, match="between 1 and 65530"):
        Layout(65531, 3)


@pytest.mark.parametrize("nodes", ["0", "2", "10"])
def test_bad_nodes_on_the_command_line_is_one_line_and_starts_nothing(
        nodes: str, tmp_path: Path) -> None:
    done = run_cli(["broker", "start", "--nodes", nodes, "--port", "29500"],
                   {"ORDERFLOW_CACHE_DIR": str(tmp_path)})
    assert done.code == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "--nodes" in done.stderr
    assert not (tmp_path / "broker").exists()
