"""ORDERFLOW_FLOWS: a deployment runs one flow or both, and its services follow."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.settings import Settings, SettingsError
from services.bootstrap import Orderflow
from services.order import FlowNotDeployed
from tests.support import run_cli


def _app(flows: str, tmp_path: Path) -> Orderflow:
    return Orderflow(Settings.from_env({"ORDERFLOW_FLOWS": flows,
                                        "ORDERFLOW_DATA_DIR": str(tmp_path)}))


def test_both_flows_by_default() -> None:
    assert Settings.from_env({}).flows == {"choreography", "orchestration"}
    assert Settings.from_env({"ORDERFLOW_FLOWS": "both"}).flows == {"choreography",
                                                                   "orchestration"}


@pytest.mark.parametrize("value", ["sideways", "choreography,orchestration", "none"])
def test_a_value_that_is_not_a_flow_is_one_line(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^ORDERFLOW_FLOWS: .* is not a flow"):
        Settings.from_env({"ORDERFLOW_FLOWS": value})


def test_under_orchestration_alone_inventory_subscribes_to_its_command_topic_only(
        tmp_path: Path) -> None:
    app = _app("orchestration", tmp_path)
    table = app.messages("inventory")
    assert table.topics("") == ["inventory.commands"]
    assert [flow for flow, _, _ in table.rows()] == ["orchestration"] * 2
    assert "orchestrator" in app.deployed()


def test_under_choreography_alone_no_orchestrator_is_deployed(tmp_path: Path) -> None:
    app = _app("choreography", tmp_path)
    assert app.deployed() == ["order", "inventory", "payment", "shipping", "projector"]
    assert app.messages("payment").topics("") == ["inventory", "orders", "shipping"]
    assert app.messages("orchestrator").rows() == []


def test_an_order_of_a_flow_not_deployed_is_refused_before_anything_is_written(
        tmp_path: Path) -> None:
    app = _app("orchestration", tmp_path)
    with pytest.raises(FlowNotDeployed, match="runs orchestration only"):
        app.orders().place(customer_id="alice", items=[("SKU-1", 1)], ship_to="DE",
                           flow="choreography", channel="cli")
    assert not (tmp_path / "order.db").exists()


@pytest.mark.parametrize(("environ", "service"), [
    ({"ORDERFLOW_FLOWS": "choreography"}, "orchestrator"), ({}, "fraud")])
def test_running_a_service_not_deployed_is_one_line_and_starts_nothing(
        environ: dict[str, str], service: str, tmp_path: Path) -> None:
    done = run_cli(["run", service], {**environ, "ORDERFLOW_DATA_DIR": str(tmp_path),
                                      "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert done.code == 1 and done.stdout == "" and done.stderr.count("\n") == 1
    assert f"{service} is not deployed with ORDERFLOW_FLOWS=" in done.stderr
    assert not any(tmp_path.iterdir())  # no store, no log
