"""Tables that fit an 80-column terminal: short ids (accepted back as input), compact
times, `--wide` for everything; `--json` stays complete. In-process, on SQLite stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from cli.main import run
from cli.output import compact_time
from domain.saga import start_saga
from tests.support import projected_stores
from tests.unit.test_projections_support import Topics, happy_saga, placed

FIRST, SECOND = "1a2b3c4d-0000-4000-8000-000000000001", "1a2b3c4d-0000-4000-8000-000000000002"
OTHER = "9f8e7d6c-0000-4000-8000-000000000003"  # orchestrated, its saga running
STEP = timedelta(seconds=5)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    monkeypatch.setenv("COLUMNS", "80")
    topics = Topics("w.")
    other = placed(topics, OTHER, seconds=9)
    saga = start_saga(other.envelope.body, other.envelope.occurred_at, STEP).events
    records = [*happy_saga(topics, FIRST), placed(topics, SECOND, seconds=5), other,
               *(topics.incoming(e, "sagas", seconds=9, version=i)
                 for i, e in enumerate(saga, start=1))]
    projected_stores(tmp_path / "data", monkeypatch, records, "w.")
    capsys.readouterr()
    yield


def shown(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert run(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out.splitlines()


@pytest.mark.usefixtures("data")
@pytest.mark.parametrize("argv", [["list"], ["status", FIRST], ["trace", FIRST],
                                  ["sagas", "list"], ["sagas", "show", OTHER[:8]]])
def test_every_table_fits_80_columns_without_wrapping_an_id_or_time(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    lines = shown(argv, capsys)
    assert max(len(line.rstrip()) for line in lines) <= 80, "\n".join(lines)
    rows = lines[3:]  # after the title, the header and its rule
    assert rows and all(line.strip() for line in rows)  # no wrapped continuation lines


@pytest.mark.usefixtures("data")
def test_list_shows_short_ids_and_compact_times_and_wide_shows_them_whole(
        capsys: pytest.CaptureFixture[str]) -> None:
    rows = [line.split() for line in shown(["list"], capsys)[3:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("9f8e7d6c", "chor", "created"), ("1a2b3c4d", "chor", "created"),
        ("1a2b3c4d", "chor", "confirmed")]
    assert rows[2][-2:] == ["01-01", "12:00:00"]  # not today: the date, to the second
    wide = shown(["list", "--wide"], capsys)
    assert FIRST in wide[-1] and "2026-01-01T12:00:00.000000+00:00" in wide[-1]
    document = json.loads("".join(shown(["list", "--json"], capsys)))
    assert {o["order_id"] for o in document} == {FIRST, SECOND, OTHER}


@pytest.mark.usefixtures("data")
def test_a_short_id_is_accepted_wherever_an_order_id_is(
        capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads("".join(shown(["status", OTHER[:8], "--json"], capsys)))
    assert document["order_id"] == OTHER
    assert json.loads("".join(shown(["trace", "9F8E7D6C", "--json"], capsys)))
    assert shown(["sagas", "show", OTHER[:10]], capsys)[0].startswith(f"saga {OTHER}")


@pytest.mark.usefixtures("data")
@pytest.mark.parametrize(("argv", "code", "says"), [
    (["status", FIRST[:8]], 1, "is the start of several orders"),
    (["trace", "deadbeef"], 1, "no order whose id starts with deadbeef"),
    (["sagas", "retry", "1a2b3c4"], 2, "not a valid UUID, nor a short order id"),
    (["status", "1a2b3c4d%"], 2, "not a valid UUID, nor a short order id"),
])
def test_an_ambiguous_unknown_or_malformed_short_id_is_one_line(
        argv: list[str], code: int, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == code
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and says in err


def test_compact_times_show_the_date_only_when_it_is_not_today() -> None:
    stamp = "2026-12-02T07:05:09.123456+00:00"
    assert compact_time(stamp, today="2026-12-02") == "07:05:09.123"
    assert compact_time(stamp, today="2026-12-03") == "12-02 07:05:09"
    assert compact_time(stamp, wide=True) == stamp
