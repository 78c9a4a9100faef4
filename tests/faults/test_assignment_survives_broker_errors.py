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
    """A client whose broker goes away for a moment while the group assigns partitions:
    the first watermark query fails."""

    def __init__(self, _config: dict[str, Any]) -> None:
        self.assigned: list[TopicPartition] = []
        self.answers = 0
        self.on_assign: Any = None

    def subscribe(self, _topics: list[str], *, on_assign: Any, **_: Any) -> None:
        self.on_assign = on_assign

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions

    def get_watermark_offsets(self, partition: TopicPartition, **_: Any) -> tuple[int, int]:
        self.answers += 1
        if self.answers == 1:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Broker transport failure"))
        return 0, 0

    def poll(self, _timeout: float) -> None:
        return None

    def close(self) -> None:
        pass


def test_a_transient_broker_error_during_assignment_does_not_kill_the_consumer(
        make_env: MakeEnv) -> None:
    env = make_env("sqlite", bootstrap="127.0.0.1:1")
    with opened(env) as app:
        app.upgrade()
        runtime = ConsumerRuntime(engine=app.store("inventory"), bootstrap="127.0.0.1:1",
                                  group="g", topics=["t"], handler=lambda *_: None,
                                  client_factory=BrokerRestarting)  # type: ignore[arg-type]
        client = runtime.source.client
        runtime.source.subscribe()
        # when the broker fails the first watermark query of an assignment
        client.on_assign(client, [TopicPartition("t", 0)])  # type: ignore[attr-defined]
        # then the partitions are assigned anyway, and the backlog target is found later
        assert client.assigned == [TopicPartition("t", 0)]  # type: ignore[attr-defined]
        assert runtime.poll_once(timeout=0) == 0
        assert runtime.caught_up.is_set()
        runtime.close()


def test_a_client_that_never_gets_partitions_is_replaced(make_env: MakeEnv) -> None:
    # given a consumer whose group can never be joined (nothing listens on its broker port)
    env = make_env("sqlite", bootstrap="127.0.0.1:1")
    with opened(env) as app:
        app.upgrade()
        runtime = ConsumerRuntime(engine=app.store("inventory"), bootstrap="127.0.0.1:1",
                                  group="g", topics=["t"], handler=lambda *_: None,
                                  rejoin_deadline=0.5)
        first, stop = runtime.source.client, threading.Event()
        thread = threading.Thread(target=runtime.run, args=(stop,), daemon=True)
        thread.start()
        try:
            # then past the deadline a fresh client takes over, again and again, while
            # the runtime keeps running
            wait_until(lambda: runtime.source.replacements >= 2, 30, "two client replacements")
            assert runtime.source.client is not first and thread.is_alive()
        finally:
            stop.set()
            thread.join(30)
        assert not thread.is_alive()
