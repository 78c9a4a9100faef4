"""`orderflow acl apply` against the session's plain broker, which has no authorizer: one
line on stderr, a non-zero exit, nothing changed. (Applying to a broker that enforces
ACLs is the secure broker's suite.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli.main import run
from tests.conftest import MakeEnv

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("json", [[], ["--json"]])
def test_acl_apply_without_an_authorizer_is_one_line_and_changes_nothing(
        make_env: MakeEnv, kafka: str, json: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(bootstrap=kafka)
    for key in [k for k in os.environ if k.startswith(("ORDERFLOW_", "KAFKA_"))]:
        monkeypatch.delenv(key)
    for key, value in env.environ.items():
        monkeypatch.setenv(key, value)
    code = run(["acl", "apply", *json])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("orderflow: error: the broker has no authorizer (SECURITY_DISABLED)")
    assert not (tmp_path / "data").exists()  # no store was opened either
