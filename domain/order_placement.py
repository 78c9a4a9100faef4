"""Placing an order: every input checked before anything is recorded."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from domain.catalog import Catalog
from domain.errors import DomainError
from domain.ids import validate_customer_id, validate_order_id, validate_sku
from domain.order_events import Channel, Flow, OrderEvent, OrderLine, OrderPlaced
from domain.values import InvalidQuantity, bounded_int, require_aware, shown

MAX_LINES = 50
MAX_QUANTITY = 10_000
_FLOWS = tuple(flow.value for flow in Flow)
_CHANNELS = tuple(channel.value for channel in Channel if channel is not Channel.UNKNOWN)


class InvalidOrder(DomainError):
    """An order that cannot be placed as given."""


def place_order(
    *, order_id: str, customer_id: str, items: Sequence[tuple[str, int]], ship_to: str,
    flow: Flow | str, channel: Channel | str, catalog: Catalog, now: datetime,
    timeout: timedelta,
) -> list[OrderEvent]:
    order_id = validate_order_id(order_id)
    customer_id = validate_customer_id(customer_id)
    lines = _lines(items, catalog)
    placed = OrderPlaced(
        order_id=order_id, customer_id=customer_id, lines=lines,
        total_cents=sum(line.total_cents for line in lines),
        ship_to=catalog.check_country(ship_to), flow=_flow(flow), channel=_channel(channel),
        placed_at=require_aware(now), deadline=now + _positive(timeout),
    )
    return [placed]


def _lines(items: object, catalog: Catalog) -> tuple[OrderLine, ...]:
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidOrder(f"items must be a list of (SKU, quantity) pairs, got {shown(items)}")
    if not 1 <= len(items) <= MAX_LINES:
        raise InvalidOrder(f"an order needs between 1 and {MAX_LINES} lines, got {len(items)}")
    lines = tuple(_line(item, catalog) for item in items)
    _refuse_duplicates(lines)
    return lines


def _line(item: object, catalog: Catalog) -> OrderLine:
    if not isinstance(item, tuple | list) or len(item) != 2:
        raise InvalidOrder(f"each item must be a (SKU, quantity) pair, got {shown(item)}")
    sku = validate_sku(item[0])
    quantity = bounded_int(
        item[1], what=f"quantity of {sku}", low=1, high=MAX_QUANTITY, error=InvalidQuantity
    )
    return OrderLine(sku=sku, quantity=quantity, unit_price_cents=catalog.price_of(sku))


def _refuse_duplicates(lines: tuple[OrderLine, ...]) -> None:
    # Merging duplicates silently would surprise whoever typed them; say so instead.
    seen: set[str] = set()
    for line in lines:
        if line.sku in seen:
            raise InvalidOrder(
                f"SKU {line.sku} appears more than once; give it once with the total quantity"
            )
        seen.add(line.sku)


def _flow(flow: object) -> str:
    if isinstance(flow, str) and flow in _FLOWS:
        return Flow(flow).value
    raise InvalidOrder(f"flow must be 'choreography' or 'orchestration', got {shown(flow)}")


def _channel(channel: object) -> str:
    """A known channel; `unknown` is for orders from before channels were recorded only."""
    if isinstance(channel, str) and channel in _CHANNELS:
        return Channel(channel).value
    raise InvalidOrder(f"channel must be one of {', '.join(_CHANNELS)}, got {shown(channel)}")


def _positive(timeout: object) -> timedelta:
    if not isinstance(timeout, timedelta) or timeout <= timedelta(0):
        raise InvalidOrder(f"timeout must be a positive duration, got {shown(timeout)}")
    return timeout
