"""Found by scenario 3.

A broker that restarts while a group rebalances makes the watermark query in the
consumer's assignment callback fail (`_TRANSPORT`, `NOT_LEADER_FOR_PARTITION`); the
KafkaException escaped `poll()`, killed the consumer thread and stopped the service.

A broker paused for 10 s on a loaded machine left librdkafka clients revoked and never
assigned again (their group coordinator requests had timed out): the services ran, but
consumed nothing for good. A client without an assignment past a deadline is replaced.
"""

from __future__ import annotations

import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from adapters.kafka.consumer import ConsumerRuntime
from tests.conftest import MakeEnv
from tests.integration.test_exactly_once import opened
from tests.support import wait_until


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
        real, runtime.consumer = runtime.consumer, consumer  # type: ignore[assignment]
        # when the broker fails the first watermark query of an assignment
        runtime._on_assign(consumer, [TopicPartition("t", 0)])  # type: ignore[arg-type]
        # then the partitions are assigned anyway, and the backlog target is found later
        assert consumer.assigned == [TopicPartition("t", 0)]
        runtime._check_caught_up()
        assert runtime.caught_up.is_set()
        real.close()


def test_a_client_that_never_gets_partitions_is_replaced(make_env: MakeEnv) -> None:
    # given a consumer whose group can never be joined (nothing listens on its broker port)
    env = make_env("sqlite", bootstrap="127.0.0.1:1")
    with opened(env) as app:
        app.upgrade()
        runtime = ConsumerRuntime(engine=app.store("inventory"), bootstrap="127.0.0.1:1",
                                  group="g", topics=["t"], handler=lambda *_: None,
                                  rejoin_deadline=0.5)
        first, stop = runtime.consumer, threading.Event()
        thread = threading.Thread(target=runtime.run, args=(stop,), daemon=True)
        thread.start()
        try:
            # then past the deadline a fresh client takes over, again and again, while
            # the runtime keeps running
            wait_until(lambda: runtime.replacements >= 2, 30, "two client replacements")
            assert runtime.consumer is not first and thread.is_alive()
        finally:
            stop.set()
            thread.join(30)
        assert not thread.is_alive()
