"""docker-compose.yml must agree with the local broker: same Kafka version, same ports."""

from pathlib import Path

import yaml

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
