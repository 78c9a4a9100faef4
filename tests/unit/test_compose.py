"""docker-compose.yml must agree with the local broker: same Kafka version, same ports."""

from pathlib import Path

import yaml

from adapters.kafka.broker import Layout
from adapters.kafka.jars import KAFKA_VERSION
from adapters.settings import DEFAULT_BOOTSTRAP, PROJECT_ROOT

COMPOSE = yaml.safe_load(Path(PROJECT_ROOT / "docker-compose.yml").read_text())


def test_kafka_service_matches_the_local_broker() -> None:
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    port = DEFAULT_BOOTSTRAP.rsplit(":", 1)[1]
    assert f"127.0.0.1:{port}:{port}" in kafka["ports"]
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{DEFAULT_BOOTSTRAP}"
    assert "healthcheck" in kafka


def test_postgres_service_has_a_healthcheck_and_the_default_port() -> None:
    postgres = COMPOSE["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "127.0.0.1:5432:5432" in postgres["ports"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


CLUSTER_PORT = 19092  # the compose cluster's node 1, as the header comment says


def _properties(environment: dict[str, object]) -> dict[str, str]:
    """The apache/kafka image's mapping: KAFKA_A_B=v is the server property a.b=v."""
    return {k.removeprefix("KAFKA_").lower().replace("_", "."): str(v)
            for k, v in environment.items() if k.startswith("KAFKA_")}


def test_the_cluster_profile_is_the_local_three_node_cluster() -> None:
    layout = Layout(CLUSTER_PORT, 3)
    nodes = {name: service for name, service in COMPOSE["services"].items()
             if "cluster" in service.get("profiles", [])}
    assert sorted(nodes) == [f"kafka-{n}" for n in layout.ids]
    cluster_ids = {str(s["environment"]["CLUSTER_ID"]) for s in nodes.values()}
    assert len(cluster_ids) == 1 and len(cluster_ids.pop()) == 22  # a base64 UUID
    for n in layout.ids:
        service = nodes[f"kafka-{n}"]
        assert service["image"] == f"apache/kafka:{KAFKA_VERSION}"
        assert service["network_mode"] == "host" and "healthcheck" in service
        compose = _properties(service["environment"])
        local = layout.properties(n, Path(compose["log.dirs"]))
        assert compose == local
    header = Path(PROJECT_ROOT / "docker-compose.yml").read_text()
    assert f"KAFKA_BOOTSTRAP_SERVERS={layout.bootstrap}" in header
