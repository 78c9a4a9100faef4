"""`orderflow run SERVICE --describe`: a service's message table, read from the table
itself (no store, no broker), fitting 80 columns; `--json` for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import run


@pytest.fixture(autouse=True)
def empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path))  # nothing migrated here
    monkeypatch.setenv("COLUMNS", "80")


def test_describe_answers_what_inventory_does_when_payment_is_declined(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["run", "inventory", "--describe", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["inventory"]
    declined = [r for r in rows if r["on"] == "payment.declined.v1"]
    assert [(r["flow"], r["handler"]) for r in declined] == [("choreography", "release_stock")]
    assert declined[0]["does"].startswith("Release what the order holds")


def test_describe_lists_timers_and_fits_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["run", "order", "orchestrator", "projector", "--describe"]) == 0
    out = capsys.readouterr().out
    assert "expire_due" in out and "tick_due" in out and "order_view" in out
    assert max(len(line) for line in out.splitlines()) <= 80
