"""The comparison's tables: a tick where a flow ended as expected, what it got where not,
why where a path was skipped; deadlines and the late reply as measured; and every table
fits 80 columns without wrapping a reason, a count or a word."""

from __future__ import annotations

import pytest

from cli.compare import document, render, sections
from experiments.compare import SCENARIOS, TIMEOUT, FlowResult


def result(flow: str, **changes: object) -> FlowResult:
    done = FlowResult(flow, outcomes={s.name: s.expected for s in SCENARIOS},
                      scenario_orders={s.name: f"{flow}-{s.name}" for s in SCENARIOS},
                      batch=[f"{flow}-{n}" for n in range(20)], rate=10.0, warmup=5,
                      latencies_ms=[40.0, 50.0, 90.0], messages_per_order={"orders": 2.0},
                      coupling={"inventory": {"orders", "shipping", "payments"}},
                      late_reply=["authorized", "voided"])
    done.remember_timers({"order": {"order-deadline": set(done.placed[:26])}})
    for name, value in changes.items():
        setattr(done, name, value)
    return done


def test_outcomes_are_ticks_unless_a_flow_got_something_else_or_skipped_it() -> None:
    skipped = result("orchestration", skipped={TIMEOUT.name: "needs --spawn"},
                     late_reply=None)
    skipped.outcomes[SCENARIOS[1].name] = ("rejected", "timeout")
    del skipped.outcomes[TIMEOUT.name]
    results = {"choreography": result("choreography"), "orchestration": skipped}
    _, columns, rows = sections(results)[0]
    assert columns == ["path", "expected", "choreography", "orchestration"]
    assert [row[1] for row in rows] == [s.expected[1] or "confirmed" for s in SCENARIOS]
    assert [row[2] for row in rows] == ["✓"] * len(SCENARIOS)
    assert rows[1][3] == "✗ rejected (timeout)" and rows[-1][3] == "skipped: needs --spawn"
    assert sections(results)[-1][2] == [["payment's events", "authorized → voided",
                                         "needs --spawn"]]


def test_deadlines_count_the_flows_orders_with_a_timer_row() -> None:
    results = {"choreography": result("choreography"),
               "orchestration": result("orchestration", timers={})}
    title, _, rows = sections(results)[4]
    assert title.startswith("deadlines") and rows == [["order:order-deadline", "26 of 27", "-"]]
    assert document(results)["choreography"]["timers"] == {"order:order-deadline": 26}


def test_every_table_fits_80_columns(capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    results = {"choreography": result("choreography"),
               "orchestration": result("orchestration", skipped={TIMEOUT.name: "needs --spawn"},
                                       late_reply=None)}
    render(results)
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    for whole in ("country_not_served", "skipped: needs --spawn", "authorized → voided",
                  "26 of 27", "orders, payments, shipping", "order:order-deadline"):
        assert whole in out, whole
