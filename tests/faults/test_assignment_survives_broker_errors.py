"""Found by scenario 3: a broker that restarts while a group rebalances makes the
watermark query in the consumer's assignment callback fail (`_TRANSPORT`,
`NOT_LEADER_FOR_PARTITION`); the KafkaException escapes `poll()`, kills the consumer
thread and stops the whole service (exit 1). A transient broker error must not."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from adapters.kafka.consumer import ConsumerRuntime
from tests.conftest import MakeEnv
from tests.integration.test_exactly_once import opened


class BrokerRestarting:
    """The callback's view of a consumer whose broker is going away for a moment."""

    def __init__(self) -> None:
        self.assigned: list[TopicPartition] = []
        self.answers = 0

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions

    def get_watermark_offsets(self, partition: TopicPartition, **_: Any) -> tuple[int, int]:
        self.answers += 1
        if self.answers == 1:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Broker transport failure"))
        return 0, 0


def test_a_transient_broker_error_during_assignment_does_not_kill_the_consumer(
        make_env: MakeEnv) -> None:
    env = make_env("sqlite", bootstrap="127.0.0.1:1")
    with opened(env) as app:
        app.upgrade()
        runtime = ConsumerRuntime(engine=app.store("inventory"), bootstrap="127.0.0.1:1",
                                  group="g", topics=["t"], handler=lambda *_: None)
        consumer = BrokerRestarting()
        # when the broker fails the first watermark query of an assignment
        runtime._on_assign(consumer, [TopicPartition("t", 0)])  # type: ignore[arg-type]
        # then the partitions are assigned anyway, and the backlog target is found later
        assert consumer.assigned == [TopicPartition("t", 0)]
        real, runtime.consumer = runtime.consumer, consumer  # type: ignore[assignment]
        runtime._check_caught_up()
        assert runtime.caught_up.is_set()
        real.close()
