"""Notices: what the machinery tells the read models about the messages it set aside.

A dead letter leaves an order's story unfinished, and the projector reads only what is
published: so the consumer that dead-letters a record also queues a `MessageDeadLettered`
on `dead-letters`, in the same transaction as the dead letter itself, and
`orderflow dlq redrive` queues a `DeadLetterRedriven` with the copy it sends back. The
projector keeps `dead_letter_view` from them; that is how a choreographed order whose
compensation sits in a DLQ shows `compensation_failed` until somebody redrives it.

Every text fits the read models' 64-character columns: the whole error is in the dead
letter's headers (`orderflow dlq show`).
"""

from __future__ import annotations

from dataclasses import dataclass

NOTICES_TOPIC = "dead-letters"
TEXT = 64


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageDeadLettered:
    dead_letter_id: str
    order_id: str | None  # None: the record named no order we could read
    group: str  # the consumer group that could not handle it
    topic: str
    partition: int
    offset: int
    message_type: str | None  # its wire type, None if it did not decode
    error: str  # "<ErrorType>: <message>", cut to 64 characters


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadLetterRedriven:
    dead_letter_id: str
    order_id: str | None


def short(text: str) -> str:
    """One line of at most TEXT characters."""
    line = " ".join(text.split())
    return line if len(line) <= TEXT else line[: TEXT - 1] + "…"
