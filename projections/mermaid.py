"""An order's timeline as a Mermaid `sequenceDiagram`: who emitted what, and who reacts.

Reactions are a small static map, enough for a whiteboard: in choreography each event
goes to the services known to react to it (an event nobody reacts to is a note-to-self
arrow); in orchestration every participant answers the orchestrator, and a command
goes to the service named by its wire type (`inventory.reserve-stock.v1` → inventory)
and the saga's own bookkeeping stays with the orchestrator. Types are looked up without
their version: a timeline keeps the names its events had when they were projected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from adapters.registry import family

PARTICIPANTS = ("order", "inventory", "payment", "shipping")
ORCHESTRATOR = "orchestrator"

CHOREOGRAPHY: dict[str, tuple[str, ...]] = {
    "order.placed": ("inventory",),
    "order.expired": ("inventory", "payment", "shipping"),  # undo what was done in time
    "inventory.stock-reserved": ("payment",),
    "inventory.stock-rejected": ("order",),
    "payment.authorized": ("shipping",),
    "payment.declined": ("order", "inventory"),
    "shipping.shipment-scheduled": ("order",),
    "shipping.shipment-rejected": ("order", "inventory", "payment"),
}
# A participant's own bookkeeping (stock and credit streams): nobody else reacts.
INTERNAL = frozenset({"inventory.stock-allocated", "inventory.stock-deallocated",
                      "payment.credit-held", "payment.credit-released"})


def sequence_diagram(rows: Iterable[Mapping[str, Any]], flow: str | None) -> str:
    events = list(rows)
    orchestrated = flow == "orchestration" or any(r["service"] == ORCHESTRATOR for r in events)
    names = [*PARTICIPANTS, *([ORCHESTRATOR] if orchestrated else [])]
    lines = ["sequenceDiagram", *(f"    participant {name}" for name in names)]
    for row in events:
        source = row["service"]
        for target in reactors(row["type"], source, orchestrated):
            lines.append(f"    {source}->>{target}: {row['type']}")
    return "\n".join(lines)


def reactors(wire_type: str, source: str, orchestrated: bool) -> tuple[str, ...]:
    if source == ORCHESTRATOR:  # a command's wire name starts with its target
        target = wire_type.split(".", 1)[0]
        return (target if target in PARTICIPANTS else ORCHESTRATOR,)
    if orchestrated and family(wire_type) not in INTERNAL:
        return (ORCHESTRATOR,)
    return CHOREOGRAPHY.get(family(wire_type)) or (source,)
