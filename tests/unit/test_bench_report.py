"""The bench's table of the hops inside the services: p50 / p99 per hop, p50 per service,
"–" where a histogram had no samples, and 80 columns."""

from __future__ import annotations

import pytest

from adapters.metrics import HOPS
from cli.output import table
from experiments.bench.report import _inside

SERVICES = ("inventory", "orchestrator", "order", "payment", "projector", "shipping")


SAMPLES = {"relay_pickup": 63_210, "relay_publish": 1_260, "consumer_fetch": 999,
           "batch_apply": 999}


def service_hops(relay_ms: float | None, consumer_ms: float | None,
                 samples: dict[str, int] = SAMPLES) -> dict[str, object]:
    """What `MetricsProbe.read` gives: relays observed, consumers maybe not yet."""
    def figures(hop: str, ms: float | None) -> dict[str, float | None]:
        return {"p50_ms": ms, "p99_ms": None if ms is None else 12.5 * ms,
                "samples": 0 if ms is None else samples[hop]}

    ms = {"relay_pickup": relay_ms, "relay_publish": relay_ms,
          "consumer_fetch": consumer_ms, "batch_apply": consumer_ms}
    return {"hops": {hop: figures(hop, ms[hop]) for hop in HOPS},
            "by_service": {s: dict(ms) for s in SERVICES}, "unscraped": []}


DOCUMENT = {"latency": {"choreography": {"service_hops": service_hops(1.24, None)},
                        "orchestration": {"service_hops": service_hops(0.8, 2.0)}}}


def test_each_hop_is_p50_over_p99_and_no_samples_is_a_dash() -> None:
    _, columns, rows = _inside(DOCUMENT)
    assert columns == ["", "choreography", "orchestration"]
    by_label = {row[0]: row[1:] for row in rows}
    assert by_label["pick-up: written → read"] == ["1.2 / 16", "0.8 / 10"]
    assert by_label["fetch: produce → poll"] == ["– / –", "2.0 / 25"]
    assert by_label["samples per hop"] == ["63k / 1.3k / 0 / 0", "63k / 1.3k / 999 / 999"]
    assert by_label["  order, p50s"] == ["1.2 / 1.2 / – / –", "0.8 / 0.8 / 2.0 / 2.0"]
    assert "not scraped" not in by_label


def test_a_service_that_did_not_answer_is_named() -> None:
    hops = service_hops(1.0, None)
    hops["unscraped"] = ["payment"]
    _, _, rows = _inside({"latency": {"choreography": {"service_hops": hops}}})
    assert rows[-1] == ["not scraped", "payment"]


# A loaded run: four-digit p99s and sample counts of a thousand and more on every hop
# (a PostgreSQL run's table wrapped with these before the labels were shortened).
WIDE_SAMPLES = {"relay_pickup": 1_500, "relay_publish": 1_500, "consumer_fetch": 7_200,
                "batch_apply": 5_600}
WIDE = {"latency": {flow: {"service_hops": service_hops(394.0, 1999.0, WIDE_SAMPLES)}
                    for flow in ("choreography", "orchestration")}}


@pytest.mark.parametrize("document", [DOCUMENT, WIDE], ids=["light", "loaded"])
def test_the_table_fits_80_columns(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str],
                                   document: dict[str, object]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    title, columns, rows = _inside(document)
    table(title, columns, rows)
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert len(lines) == len(rows) + 3  # title, header, rule, one line a row: nothing wraps
    assert all(line.startswith(row[0]) for line, row in zip(lines[3:], rows, strict=True))
