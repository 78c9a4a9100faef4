"""Upcasters: the data of an old schema version, brought up to the version this code has.

One table and one function for every reader of events: the codec runs `upcast` on
each record it decodes from Kafka, the event store on each row it loads (folded state
and reads alike), so an `order.placed.v1` record and an `order.placed.v1` row read the
same. Nothing old is rewritten: a stored row keeps the version it was written with, and
an old record stays on its topic as it was; readers upcast on the way in, every time.

An upcaster takes the `data` of version N of one message (plain JSON values, as
written) and returns the `data` of version N + 1; `upcast` chains them from the written
version up to the registration's. Data newer than the code, a version with no
upcaster, and an upcaster that fails are all a `SchemaError`: the codec makes it a
decode error (the record is dead-lettered), the store an `UnreadableEvent` naming the
stream and version. How to add a version: see adapters/registry.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.registry import BY_CLASS, BY_WIRE, Registration, family, version_of
from domain.errors import OrderflowError
from domain.order_events import Channel, OrderPlaced
from domain.saga_events import CORE_STEPS, SagaStarted

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]


class SchemaError(OrderflowError):
    """Data this code cannot bring up to its own version of the message."""


def _order_placed_v1(data: Data) -> Data:
    """v2 says where the order was placed; nobody knows that for orders placed before."""
    return {**data, "channel": Channel.UNKNOWN.value}


def _saga_started_v1(data: Data) -> Data:
    """v2 lists the saga's forward steps; a saga started before ran the core four."""
    return {**data, "steps": [step.value for step in CORE_STEPS]}


# (class, version N) -> turns that class's data of version N into version N + 1.
UPCASTERS: dict[tuple[type, int], Upcaster] = {
    (OrderPlaced, 1): _order_placed_v1,
    (SagaStarted, 1): _saga_started_v1,
}


def upcast(wire: str, version: int, data: Data) -> tuple[Registration, Data]:
    """The registration a message of type `wire` written at `version` resolves to, and
    its data at that registration's version."""
    reg = BY_WIRE.get(wire)
    if reg is None:
        raise SchemaError(_unknown(wire))
    if version == reg.schema_version and wire == reg.wire:
        return reg, data  # written by this code's version: nothing to do
    return reg, _older(reg, wire, version, data)


def _older(reg: Registration, wire: str, version: int, data: Data) -> Data:
    if version > reg.schema_version:
        raise SchemaError(f"{wire} schema_version {version} is newer than this code "
                          f"({reg.wire}): upgrade orderflow to read it")
    if version != version_of(wire):
        raise SchemaError(f"{wire} says schema_version {version}: a name and its "
                          "version must agree")
    while version < reg.schema_version:
        upcaster = UPCASTERS.get((reg.cls, version))
        if upcaster is None:
            raise SchemaError(f"no upcaster for {reg.cls.__name__} schema_version {version}"
                              f" (up to {reg.wire})")
        try:
            data, version = upcaster(data), version + 1
        except Exception as exc:  # an old record the upcaster cannot read
            raise SchemaError(f"upcasting {wire} from schema_version {version} failed: "
                              f"{type(exc).__name__}: {exc}") from exc
    return data


def _unknown(wire: str) -> str:
    """Say so when the name is a newer version of a message this code knows."""
    said = version_of(wire)
    for reg in BY_CLASS.values():
        if family(reg.wire) == family(wire) and said is not None and said > reg.schema_version:
            return (f"unknown message type {wire[:100]!r}: newer than this code "
                    f"({reg.wire}), upgrade orderflow to read it")
    return f"unknown message type {wire[:100]!r}"
