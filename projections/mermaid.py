"""An order's timeline as a Mermaid `sequenceDiagram`: who emitted what, and who reacted.

Arrows come from the trace itself, not from a map of who should react: a record goes to
every service that emitted an event whose causation id is that record's id (in
orchestration the orchestrator's command goes to the participant that answered it, and
the reply back to the orchestrator). A record nobody reacted to on this order (saga
bookkeeping, stock and credit entries, the final OrderConfirmed) is a note-to-self
arrow, so every record of the timeline is in the picture once per reactor.

`coupling_flowchart` draws the coupling matrix (service → topics it consumed) as a
Mermaid `flowchart`: what a comparison learned from the same traces, as a graph.
"""

from __future__ import annotations

import re
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


def coupling_flowchart(consumed: Mapping[str, Iterable[str]]) -> str:
    """A `flowchart LR`: each topic (a pill) points at every service (a box) that
    consumed it. Node ids are derived from the names with a kind prefix, so a topic and a
    service of the same name (`inventory`) stay two nodes; labels are quoted. With no
    edge at all it is one node that says so (an empty flowchart is a Mermaid error)."""
    edges = {service: sorted(topics) for service, topics in sorted(consumed.items()) if topics}
    topics = sorted({topic for names in edges.values() for topic in names})
    if not edges:
        return 'flowchart LR\n    nothing["no consumption traced"]'
    return "\n".join([
        "flowchart LR",
        *(f'    {_node("t", topic)}(["{_label(topic)}"])' for topic in topics),
        *(f'    {_node("s", service)}["{_label(service)}"]' for service in edges),
        *(f"    {_node('t', topic)} --> {_node('s', service)}"
          for service, names in edges.items() for topic in names)])


def _node(kind: str, name: str) -> str:
    return f"{kind}_{re.sub(r'[^0-9A-Za-z]', '_', name)}"


def _label(name: str) -> str:
    return name.replace('"', "#quot;")
