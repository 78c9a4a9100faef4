"""Small builders for the domain's unit tests: fixed times, ids and a tiny catalog."""

from datetime import UTC, datetime, timedelta

from domain.catalog import Catalog
from domain.order import Flow, OrderPlaced, place_order

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
ORDER_ID = "0b7e6c1a-3f0e-4c1b-9a51-2f1f3c9d8e01"
OTHER_ORDER_ID = "5d0c8f4e-7a2b-4e3d-8c9f-6b1a2d3e4f50"
CUSTOMER = "alice"
TIMEOUT = timedelta(seconds=30)

CATALOG = Catalog(
    prices={"BOOK-1": 2_499, "MUG-1": 1_290, "LAPTOP-15": 149_900},
    served_countries=frozenset({"DE", "FR", "US"}),
    known_countries=frozenset({"DE", "FR", "US", "BR", "AQ", "KP"}),
)


def order_id(n: int) -> str:
    """A distinct valid order id per integer."""
    return f"00000000-0000-4000-8000-{n:012x}"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def placed(
    *, items: tuple[tuple[str, int], ...] = (("BOOK-1", 2), ("MUG-1", 1)),
    ship_to: str = "DE", flow: Flow = Flow.ORCHESTRATION, oid: str = ORDER_ID,
) -> OrderPlaced:
    [event] = place_order(
        order_id=oid, customer_id=CUSTOMER, items=items, ship_to=ship_to, flow=flow,
        channel="cli", catalog=CATALOG, now=T0, timeout=TIMEOUT,
    )
    assert isinstance(event, OrderPlaced)
    return event
