"""Stream identities: which event stream a decision's events are appended to.

A decision that touches several aggregates returns ``dict[StreamId, list[event]]``;
the caller appends each list to its stream (expected version = the version of the
state it passed in) in one transaction. ``str(StreamId)`` is ``"category:key"``,
unambiguous because no key may contain ':'.
"""

from dataclasses import dataclass
from enum import StrEnum


class StreamCategory(StrEnum):
    ORDER = "order"
    STOCK = "stock"
    RESERVATION = "reservation"
    CREDIT = "credit"
    PAYMENT = "payment"
    SHIPMENT = "shipment"
    SAGA = "saga"
    SCREENING = "screening"  # the fraud step's verdict on one order


@dataclass(frozen=True, slots=True, order=True)
class StreamId:
    category: StreamCategory
    key: str

    def __str__(self) -> str:
        return f"{self.category.value}:{self.key}"


def order_stream(order_id: str) -> StreamId:
    return StreamId(StreamCategory.ORDER, order_id)


def stock_stream(sku: str) -> StreamId:
    return StreamId(StreamCategory.STOCK, sku)


def reservation_stream(order_id: str) -> StreamId:
    return StreamId(StreamCategory.RESERVATION, order_id)


def credit_stream(customer_id: str) -> StreamId:
    return StreamId(StreamCategory.CREDIT, customer_id)


def payment_stream(order_id: str) -> StreamId:
    return StreamId(StreamCategory.PAYMENT, order_id)


def shipment_stream(order_id: str) -> StreamId:
    return StreamId(StreamCategory.SHIPMENT, order_id)


def saga_stream(order_id: str) -> StreamId:
    return StreamId(StreamCategory.SAGA, order_id)


def screening_stream(order_id: str) -> StreamId:
    return StreamId(StreamCategory.SCREENING, order_id)
