"""`orderflow tail`: every message of the run as it flows, one line each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.context import app_of
from cli.output import compact_time, emit_json, info, short_id
from cli.parse import order_ref
from cli.queries import FlowChoice

if TYPE_CHECKING:
    from adapters.kafka.tail import Seen


def tail(ctx: typer.Context,
         flow: Annotated[FlowChoice | None, typer.Option(help="Only this flow's messages.")]
         = None,
         order: Annotated[str | None, typer.Option(
             "--order", parser=order_ref, metavar="ORDER_ID",
             help="Only this order's messages (its id, or its first 8+ hex digits).")] = None,
         from_beginning: Annotated[bool, typer.Option(
             "--from-beginning", help="Every message kept on the topics, then the new ones.")]
         = False,
         timeout: Annotated[float, typer.Option(
             min=0.1, max=86_400, help="Exit after this many seconds without a message.")]
         = 30.0,
         json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
         = False) -> None:
    """Print every Kafka message of the run as it arrives: time (UTC), topic, type, order
    and what caused it. Undecodable records are printed too, with why."""
    info(f"tailing every topic (exits after {timeout:g}s without messages; Ctrl-C stops)")
    for seen in app_of(ctx).tail(from_beginning, timeout):
        if _wanted(seen, flow, order):
            if json:
                emit_json(_document(seen))
            else:
                typer.echo(_line(seen))


def _wanted(seen: Seen, flow: FlowChoice | None, order: str | None) -> bool:
    if flow is not None and seen.flow != flow.value:
        return False
    return order is None or (seen.order_id or "").startswith(order)


def _line(seen: Seen) -> str:
    where = f"{seen.topic}[{seen.partition}]@{seen.offset}"
    what = seen.type or f"UNDECODABLE ({seen.error})"
    cause = f"  <- {seen.caused_by}" if seen.caused_by else ""
    return (f"{compact_time(seen.at.isoformat(timespec='microseconds'))}  {where}  {what}"
            f"  {short_id(seen.order_id) or '-'}{cause}")


def _document(seen: Seen) -> dict[str, Any]:
    return {"at": seen.at.isoformat(), "topic": seen.topic, "partition": seen.partition,
            "offset": seen.offset, "type": seen.type, "order_id": seen.order_id,
            "event_id": seen.event_id, "flow": seen.flow, "caused_by": seen.caused_by,
            "error": seen.error}
