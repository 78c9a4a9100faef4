"""The CLI starts at once: which modules its quick paths import (a structural check;
the time itself is measured by `orderflow bench --cli`, never asserted here).

Each check runs in a fresh interpreter, since this test process has imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.settings import PROJECT_ROOT
from cli.main import run

KAFKA_AND_SERVICES = ("confluent_kafka", "psycopg", "alembic", "services.order",
                      "services.inventory", "services.payment", "services.shipping",
                      "services.orchestrator", "services.runner", "services.supervisor",
                      "projections.projector", "adapters.kafka.consumer", "adapters.relay",
                      "experiments")
SQL = ("sqlalchemy", "projections.read_models")


def loaded(code: str, data_dir: Path) -> set[str]:
    """The top-level and dotted module names imported after `code` ran."""
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ORDERFLOW_", "KAFKA_BOOTSTRAP"))}
    env["ORDERFLOW_DATA_DIR"] = str(data_dir)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=PROJECT_ROOT, timeout=60, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_loading_the_cli_imports_no_service_sql_kafka_or_rich(tmp_path: Path) -> None:
    modules = loaded("import cli.app", tmp_path)
    assert not modules & {*KAFKA_AND_SERVICES, *SQL, "rich"}


@pytest.mark.parametrize("argv", [["--help"], ["catalog", "--json"], ["catalog"]])
def test_help_and_catalog_import_no_sql_and_no_kafka(argv: list[str], tmp_path: Path) -> None:
    modules = loaded(f"from cli.main import run\nrun({argv!r})", tmp_path)
    assert not modules & {*KAFKA_AND_SERVICES, *SQL}


def test_list_and_status_import_sql_but_no_kafka_alembic_or_services(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path))
    assert run(["db", "upgrade", "--json"]) == 0
    capsys.readouterr()
    missing = "00000000-0000-4000-8000-0000000000ff"
    code = f"from cli.main import run\nrun(['list'])\nrun(['status', {missing!r}])"
    modules = loaded(code, tmp_path)
    assert "sqlalchemy" in modules and not modules & set(KAFKA_AND_SERVICES)
