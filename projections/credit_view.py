"""credit_view: per customer, the limit, what open orders hold, and what is left.

Fed by integration messages only: a customer's limit, and each order's authorisation
(its amount is held) and void (the same amount given back: a void releases exactly what
the authorisation held, domain/payment.py). Payment's per-customer bookkeeping
(CreditHeld, CreditReleased) stays in its store, unpublished; a history from before
that still holds them is projected from the authorisations alike.
"""

from __future__ import annotations

from sqlalchemy import Connection

from adapters.codec import Envelope
from adapters.sql.upserts import upsert
from domain.payment_events import CreditLimitSet, PaymentAuthorized, PaymentVoided
from projections.tables import credit_view, stamp
from projections.upsert import Excluded, later


def limit_set(connection: Connection, envelope: Envelope) -> None:
    limit = envelope.body.limit_cents
    row = {"customer_id": envelope.body.customer_id, "limit_cents": limit, "held_cents": 0,
           "available_cents": limit, "updated_at": stamp(envelope.occurred_at)}
    upsert(connection, credit_view, [row], _new_limit)


def authorized(connection: Connection, envelope: Envelope) -> None:
    _hold(connection, envelope, envelope.body.amount_cents)


def voided(connection: Connection, envelope: Envelope) -> None:
    _hold(connection, envelope, -envelope.body.amount_cents)


def _hold(connection: Connection, envelope: Envelope, cents: int) -> None:
    row = {"customer_id": envelope.body.customer_id, "limit_cents": 0, "held_cents": cents,
           "available_cents": -cents, "updated_at": stamp(envelope.occurred_at)}
    upsert(connection, credit_view, [row], _add_held)


def _new_limit(new: Excluded) -> dict[str, object]:
    # Limits of one customer share a partition (key = customer), so the last one wins.
    c = credit_view.c
    return {"limit_cents": new.limit_cents, "available_cents": new.limit_cents - c.held_cents,
            "updated_at": later(c.updated_at, new.updated_at)}


def _add_held(new: Excluded) -> dict[str, object]:
    # Holds arrive keyed by order id, on other partitions than the limit: add, don't set.
    c = credit_view.c
    return {"held_cents": c.held_cents + new.held_cents,
            "available_cents": c.available_cents + new.available_cents,
            "updated_at": later(c.updated_at, new.updated_at)}


HANDLERS = {CreditLimitSet: limit_set, PaymentAuthorized: authorized, PaymentVoided: voided}
