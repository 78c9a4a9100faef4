"""`orderflow topics create` makes every topic once, with the prefix, and is idempotent."""

import json

import pytest
from confluent_kafka.admin import AdminClient

from adapters.kafka.topics import topic_specs
from tests.conftest import MakeEnv
from tests.support import run_cli

pytestmark = [pytest.mark.kafka, pytest.mark.store_independent]


def test_topics_create_is_idempotent_and_prefixed(kafka: str, make_env: MakeEnv,
                                                  prefix: str) -> None:
    env = make_env(bootstrap=kafka)
    first = run_cli(["topics", "create", "--json"], env.environ)
    assert first.code == 0, first.stderr
    expected = {s.name for s in topic_specs(prefix)}
    assert set(json.loads(first.stdout)["created"]) == expected
    assert all(name.startswith(prefix) for name in expected)
    second = json.loads(run_cli(["topics", "create", "--json"], env.environ).stdout)
    assert second["created"] == [] and set(second["existing"]) == expected
    metadata = AdminClient({"bootstrap.servers": kafka}).list_topics(timeout=10)
    assert len(metadata.topics[f"{prefix}orders"].partitions) >= 3
    assert {f"{prefix}orders.dlq", f"{prefix}inventory.commands"} <= set(metadata.topics)
