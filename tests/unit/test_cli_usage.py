"""Bad input: one line on stderr, exit 2 (usage) or 1 (runtime), no traceback, nothing made."""

from pathlib import Path

import pytest

from cli.main import run


@pytest.mark.parametrize(("argv", "needle"), [
    (["broker", "start", "--port", "99999"], "--port"),
    (["broker", "start", "--port", "abc"], "--port"),
    (["tutorial", "listen", "--timeout", "-1"], "--timeout"),
    (["no-such-command"], "No such command"),
    (["bench", "--cli", "--orders", "100"], "--cli times start-up only"),
    (["bench", "--runs", "3"], "--runs applies to --cli only"),
])
def test_usage_errors_exit_2_with_one_line(argv: list[str], needle: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_unknown_database_scheme_is_a_usage_error_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", "mysql://u@h/db")
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path / "data"))
    assert run(["db", "upgrade"]) == 2
    assert "unsupported scheme 'mysql'" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_unreachable_broker_is_a_runtime_error(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert run(["topics", "create"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Kafka broker answers at 127.0.0.1:1" in err
