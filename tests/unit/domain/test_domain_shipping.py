"""Shipping decisions, given-when-then: schedule to served countries only, once."""

import pytest

from domain.catalog import InvalidCountry
from domain.shipping import (
    ShipmentCancelled,
    ShipmentRejected,
    ShipmentScheduled,
    ShipmentStatus,
    cancel,
    evolve_shipment,
    fold_shipment,
    schedule,
)
from tests.unit.domain.builders import ORDER_ID

SERVED = frozenset({"DE", "FR"})


def test_a_served_country_is_scheduled() -> None:
    events = schedule(fold_shipment([]), ORDER_ID, "DE", SERVED)
    assert events == [ShipmentScheduled(order_id=ORDER_ID, country="DE")]
    shipment = fold_shipment(events)
    assert (shipment.status, shipment.country) == (ShipmentStatus.SCHEDULED, "DE")
    assert shipment.version == 1


def test_a_known_country_that_is_not_served_is_rejected() -> None:
    events = schedule(fold_shipment([]), ORDER_ID, "BR", SERVED)
    assert events == [
        ShipmentRejected(order_id=ORDER_ID, country="BR", reason="country_not_served")
    ]
    assert fold_shipment(events).status is ShipmentStatus.REJECTED


@pytest.mark.parametrize("country", ["DE", "BR"])
def test_scheduling_again_changes_nothing(country: str) -> None:
    decided = fold_shipment(schedule(fold_shipment([]), ORDER_ID, country, SERVED))
    assert schedule(decided, ORDER_ID, "DE", SERVED) == []


@pytest.mark.parametrize("country", ["de", "DEU", "", "'; DROP TABLE events;--", None])
def test_malformed_countries_are_refused(country: object) -> None:
    with pytest.raises(InvalidCountry):
        schedule(fold_shipment([]), ORDER_ID, country, SERVED)  # type: ignore[arg-type]


def test_cancelling_a_scheduled_shipment() -> None:
    scheduled = fold_shipment(schedule(fold_shipment([]), ORDER_ID, "DE", SERVED))
    [cancelled] = cancel(scheduled, ORDER_ID)
    assert cancelled == ShipmentCancelled(order_id=ORDER_ID, country="DE")
    assert evolve_shipment(scheduled, cancelled).status is ShipmentStatus.CANCELLED


def test_cancelling_first_means_a_late_request_schedules_nothing() -> None:
    closed = fold_shipment(cancel(fold_shipment([]), ORDER_ID))
    assert closed.status is ShipmentStatus.CANCELLED
    assert schedule(closed, ORDER_ID, "DE", SERVED) == []
    assert cancel(closed, ORDER_ID) == []


def test_a_rejected_shipment_is_not_cancelled() -> None:
    rejected = fold_shipment(schedule(fold_shipment([]), ORDER_ID, "BR", SERVED))
    assert cancel(rejected, ORDER_ID) == []
