"""An order's timeline as a Mermaid `sequenceDiagram`: who emitted what, and who reacted.

Arrows come from the trace itself, not from a map of who should react: a record goes to
every service that emitted an event whose causation id is that record's id (in
orchestration the orchestrator's command goes to the participant that answered it, and
the reply back to the orchestrator). A record nobody reacted to on this order (saga
bookkeeping, stock and credit entries, the final OrderConfirmed) is a note-to-self
arrow, so every record of the timeline is in the picture once per reactor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PARTICIPANTS = ("order", "inventory", "payment", "shipping")
ORCHESTRATOR = "orchestrator"


def sequence_diagram(rows: Iterable[Mapping[str, Any]], flow: str | None) -> str:
    events = list(rows)
    lines = ["sequenceDiagram",
             *(f"    participant {name}" for name in participants(events, flow))]
    reacted = reactors(events)
    for row in events:
        source = row["service"]
        for target in reacted.get(row["event_id"]) or [source]:
            lines.append(f"    {source}->>{target}: {row['type']}")
    return "\n".join(lines)


def reactors(events: list[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Record id → the services that emitted something it caused, in the trace's order."""
    found: dict[str, list[str]] = {}
    for row in events:
        cause = row.get("causation_id")
        if cause and row["service"] not in found.setdefault(cause, []):
            found[cause].append(row["service"])
    return found


def participants(events: list[Mapping[str, Any]], flow: str | None) -> list[str]:
    """The four participants, the orchestrator when it took part, then anyone else seen."""
    seen = [row["service"] for row in events]
    orchestrated = flow == "orchestration" or ORCHESTRATOR in seen
    names = [*PARTICIPANTS, *([ORCHESTRATOR] if orchestrated else [])]
    return names + sorted(set(seen) - set(names))
