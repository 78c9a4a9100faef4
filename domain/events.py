"""Every domain event in one place, for whoever needs the full list (the codec).

Wire names (``order.placed.v1``) are not here on purpose: adapters own them.
"""

from typing import TypeAlias, get_args

from domain.inventory_events import InventoryEvent, ReservedLine
from domain.order_events import OrderEvent, OrderLine
from domain.payment_events import PaymentsEvent
from domain.saga_events import SagaEvent
from domain.shipping import ShippingEvent

Event: TypeAlias = OrderEvent | InventoryEvent | PaymentsEvent | ShippingEvent | SagaEvent
ALL_EVENT_CLASSES: tuple[type[Event], ...] = get_args(Event)
# Frozen dataclasses nested inside events (always in tuples).
VALUE_CLASSES: tuple[type[OrderLine | ReservedLine], ...] = (OrderLine, ReservedLine)
