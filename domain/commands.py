"""Commands: requests to a service, sent by the CLI or by the orchestrator.

The orchestrator's commands carry everything the participant needs, so a
participant never has to read another service's data.
"""

from dataclasses import dataclass
from typing import TypeAlias, get_args

from domain.inventory_events import ReservedLine


@dataclass(frozen=True, kw_only=True, slots=True)
class PlaceOrder:
    order_id: str
    customer_id: str
    items: tuple[tuple[str, int], ...]  # (sku, quantity)
    ship_to: str
    flow: str  # a Flow value
    channel: str  # a Channel value: where the order is placed


@dataclass(frozen=True, kw_only=True, slots=True)
class AddStock:
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True, slots=True)
class SetCredit:
    customer_id: str
    limit_cents: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ReserveStock:
    order_id: str
    lines: tuple[ReservedLine, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class ReleaseStock:
    order_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckFraud:
    order_id: str
    customer_id: str
    amount_cents: int


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthorizePayment:
    order_id: str
    customer_id: str
    amount_cents: int


@dataclass(frozen=True, kw_only=True, slots=True)
class VoidPayment:
    order_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleShipment:
    order_id: str
    country: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelShipment:
    order_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ConfirmOrder:
    order_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RejectOrder:
    order_id: str
    reason: str  # a RejectionReason value


SagaCommand: TypeAlias = (
    ReserveStock | ReleaseStock | CheckFraud | AuthorizePayment | VoidPayment | ScheduleShipment
    | CancelShipment | ConfirmOrder | RejectOrder
)
Command: TypeAlias = PlaceOrder | AddStock | SetCredit | SagaCommand
ALL_COMMAND_CLASSES: tuple[type[Command], ...] = get_args(Command)


# The commands that undo a completed step (the saga sends them to compensate).
UNDO_COMMANDS = (ReleaseStock, VoidPayment, CancelShipment)
