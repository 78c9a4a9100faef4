"""`orderflow broker status` exits 3 when no broker runs, as `pg_ctl status` does, and
still says so (for people, or as one JSON document); 0 when one runs is checked against
a real broker in tests/integration/test_broker.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import run
from tests.support import free_port_pair


@pytest.fixture
def port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ORDERFLOW_CACHE_DIR", str(tmp_path))
    return str(free_port_pair())


def test_a_stopped_broker_is_exit_3_and_one_line(port: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["broker", "status", "--port", port]) == 3
    out, err = capsys.readouterr()
    assert out == f"stopped (127.0.0.1:{port})\n" and err == ""


def test_a_stopped_broker_is_exit_3_with_json_too(port: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["broker", "status", "--port", port, "--json"]) == 3
    document = json.loads(capsys.readouterr().out)
    assert (document["state"], document["address"]) == ("stopped", f"127.0.0.1:{port}")
