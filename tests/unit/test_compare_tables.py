"""The comparison's outcome table: a tick where a flow ended as expected, what it got
where not, so the table fits 80 columns with the longest reason."""

from __future__ import annotations

from typing import Any

from cli.compare import sections
from experiments.compare import SCENARIOS


class Result:
    """What `sections` reads of a flow's result."""

    def __init__(self, outcomes: dict[str, tuple[str, str | None]]) -> None:
        self.outcomes = outcomes
        self.messages_per_order: dict[str, float] = {"orders": 2.0}
        self.coordination_per_order, self.feed_per_order = 1.0, 1.0
        self.latencies_ms = [10.0]
        self.coupling: dict[str, set[str]] = {}

    def percentile(self, _q: float) -> float:
        return 10.0


def test_outcomes_are_ticks_unless_a_flow_got_something_else() -> None:
    expected = {s.name: s.expected for s in SCENARIOS}
    wrong = {**expected, SCENARIOS[1].name: ("rejected", "timeout")}
    results: dict[str, Any] = {"choreography": Result(expected), "orchestration": Result(wrong)}
    title, columns, rows = sections(results)[0]
    assert (title, columns) == ("outcome per scenario",
                                ["scenario", "expected", "choreography", "orchestration"])
    assert [row[2] for row in rows] == ["✓"] * len(SCENARIOS)
    assert rows[1][3] == "✗ rejected (timeout)"
    assert max(sum(len(str(c)) for c in row) + 6 for row in rows) <= 80
