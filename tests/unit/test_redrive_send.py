"""`DeadLetters.send`: after a redrive's transaction, the CLI publishes each store's
queued copies; a store whose copies the broker does not take is reported (how many wait,
and why) and the others still go out. Every relay is closed, sent or not."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.relay import PublishFailed
from services.dead_letters import DeadLetters


class FakeRelay:
    def __init__(self, batches: list[int], fails: bool, left: int) -> None:
        self.batches, self.fails, self.left, self.closed = batches, fails, left, False

    def publish_pending(self) -> int:
        if not self.batches and self.fails:
            raise PublishFailed("1 of 1 rows failed, 0 unanswered (0 refused for good)")
        return self.batches.pop(0) if self.batches else 0

    def pending(self) -> int:
        return self.left

    def close(self) -> None:
        self.closed = True


def test_each_store_sends_until_nothing_waits_and_a_failing_one_is_reported() -> None:
    relays = {"order": FakeRelay([1000, 3], fails=False, left=0),
              "payment": FakeRelay([2], fails=True, left=4),
              "shipping": FakeRelay([], fails=False, left=0)}
    letters = DeadLetters({}, "", lambda: datetime.now(UTC), relays.__getitem__)
    unsent, why = letters.send(["order", "payment", "shipping"])
    assert (unsent, why) == (4, "payment: 1 of 1 rows failed, 0 unanswered (0 refused for"
                                " good)")
    assert [r.batches for r in relays.values()] == [[], [], []]
    assert all(r.closed for r in relays.values())


def test_nothing_queued_is_nothing_to_report() -> None:
    relay = FakeRelay([], fails=False, left=0)
    letters = DeadLetters({}, "", lambda: datetime.now(UTC), lambda _store: relay)
    assert letters.send(["order"]) == (0, None)
