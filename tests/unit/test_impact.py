"""`experiments.impact` and its tables without Kafka: what the fraud step changes in the
real services' message tables (read from the same tables dispatch derives from), the
coupling diff of two runs' traces, and the change-impact tables at 80 columns."""

from __future__ import annotations

import dataclasses

import pytest

from adapters.settings import Settings
from cli.impact import impact_document, impact_sections
from cli.output import table
from experiments.compare import FRAUD_PATH, SCENARIOS, FlowResult
from experiments.impact import ChangeImpact, coupling_changes, reactions, table_changes
from services.bootstrap import bootstrap

PLAIN = Settings()
FRAUD = dataclasses.replace(PLAIN, steps=frozenset({"fraud"}))


def test_the_fraud_step_changes_four_services_in_choreography_and_two_in_orchestration(
        ) -> None:
    changes = table_changes(reactions(bootstrap(PLAIN)), reactions(bootstrap(FRAUD)))
    by = {(c.service, c.flow): (c.added, c.removed) for c in changes}
    assert by == {
        ("order", "choreography"): (("fraud.rejected",), ()),
        ("inventory", "choreography"): (("fraud.rejected",), ()),
        ("payment", "choreography"): (("fraud.cleared",), ("inventory.stock-reserved",)),
        ("orchestrator", "orchestration"): (("fraud.cleared", "fraud.rejected"), ()),
        ("fraud", "choreography"): (("inventory.stock-reserved",), ()),
        ("fraud", "orchestration"): (("fraud.check",), ())}


def test_without_the_step_fraud_is_not_deployed_and_nothing_changes() -> None:
    assert "fraud" not in reactions(bootstrap(PLAIN))
    assert table_changes(reactions(bootstrap(PLAIN)), reactions(bootstrap(PLAIN))) == []


def result(flow: str, coupling: dict[str, set[str]], outcome: tuple[str, str | None],
           messages: float, latency: float) -> FlowResult:
    return FlowResult(flow, outcomes={FRAUD_PATH: outcome}, coupling=coupling,
                      messages_per_order={"orders": messages}, latencies_ms=[latency],
                      paths=SCENARIOS)


def impact() -> ChangeImpact:
    changes = table_changes(reactions(bootstrap(PLAIN)), reactions(bootstrap(FRAUD)))
    before = {"choreography": result("choreography", {"payment": {"inventory"}},
                                     ("confirmed", None), 5.0, 50.0),
              "orchestration": result("orchestration", {"orchestrator": {"orders"}},
                                      ("confirmed", None), 11.0, 100.0)}
    after = {"choreography": result("choreography", {"payment": {"fraud"},
                                                     "fraud": {"inventory"}},
                                    ("rejected", "fraud_suspected"), 6.0, 60.0),
             "orchestration": result("orchestration", {"orchestrator": {"orders", "fraud"}},
                                     ("rejected", "fraud_suspected"), 13.0, 120.0)}
    return ChangeImpact("fraud", FRAUD_PATH, changes, before, after)


def test_coupling_changes_are_what_a_service_consumes_only_with_or_only_without_the_step(
        ) -> None:
    measured = impact()
    assert coupling_changes(measured.before["choreography"], measured.after["choreography"]) == {
        "fraud": (["inventory"], []), "payment": (["fraud"], ["inventory"])}
    assert coupling_changes(measured.before["orchestration"],
                            measured.after["orchestration"]) == {"orchestrator": (["fraud"], [])}


def test_the_impact_tables_say_what_changed_and_fit_80_columns(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    sections = impact_sections(impact())
    _, _, measured = sections[-1]
    assert measured[0] == ["services changed", "4", "2"]
    assert measured[1] == ["messages per order", "5.0 → 6.0", "11.0 → 13.0"]
    assert measured[-1] == [FRAUD_PATH, "confirmed → fraud_suspected",
                            "confirmed → fraud_suspected"]
    for section in sections:
        table(*section)
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "- inventory.stock-reserved" in out and "+fraud -inventory" in out


def test_the_impact_document_names_the_changed_services_and_outcomes() -> None:
    document = impact_document(impact())
    assert document["services_changed"] == {
        "choreography": ["fraud", "inventory", "order", "payment"],
        "orchestration": ["fraud", "orchestrator"]}
    assert document["outcome"]["orchestration"] == {
        "without": ("confirmed", None), "with": ("rejected", "fraud_suspected")}
