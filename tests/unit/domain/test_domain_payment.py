"""Payment decisions, given-when-then: set credit, authorise, void."""

import pytest

from domain.ids import InvalidIdentifier
from domain.payment import (
    Credit,
    CreditBelowHeld,
    CreditEvent,
    CreditHeld,
    CreditLimitSet,
    CreditReleased,
    Payment,
    PaymentAuthorized,
    PaymentCancelled,
    PaymentDecision,
    PaymentDeclined,
    PaymentStatus,
    PaymentVoided,
    authorize,
    cancel,
    evolve_credit,
    evolve_payment,
    fold_credit,
    set_credit,
    void,
)
from domain.streams import credit_stream, payment_stream
from domain.values import InvalidAmount
from tests.unit.domain.builders import CUSTOMER, ORDER_ID, OTHER_ORDER_ID


def held_by(order: str, cents: int) -> CreditHeld:
    return CreditHeld(customer_id=CUSTOMER, order_id=order, amount_cents=cents)


def credit(limit: int, *events: CreditEvent) -> Credit:
    return fold_credit([CreditLimitSet(customer_id=CUSTOMER, limit_cents=limit), *events])


def apply(payment: Payment, account: Credit, decision: PaymentDecision) -> tuple[Payment, Credit]:
    for events in decision.values():
        for event in events:
            if isinstance(event, PaymentAuthorized | PaymentDeclined | PaymentVoided
                          | PaymentCancelled):
                payment = evolve_payment(payment, event)
            else:
                account = evolve_credit(account, event)
    return payment, account


# --- setting credit ------------------------------------------------------------------


def test_setting_a_credit_limit() -> None:
    assert set_credit(Credit(), CUSTOMER, 5_000) == [
        CreditLimitSet(customer_id=CUSTOMER, limit_cents=5_000)
    ]
    assert credit(5_000).available == 5_000


@pytest.mark.parametrize("limit", [0, 10**12])
def test_limits_at_the_bounds_are_fine(limit: int) -> None:
    assert set_credit(Credit(), CUSTOMER, limit)


@pytest.mark.parametrize("limit", [-1, 10**12 + 1, True, 10.5, "100", None])
def test_bad_limits_are_refused(limit: object) -> None:
    with pytest.raises(InvalidAmount, match="between 0 and 1000000000000"):
        set_credit(Credit(), CUSTOMER, limit)  # type: ignore[arg-type]


def test_a_limit_below_what_is_held_is_refused() -> None:
    held = credit(5_000, held_by(ORDER_ID, 3_000))
    with pytest.raises(CreditBelowHeld, match="2999 cents is below the 3000 cents"):
        set_credit(held, CUSTOMER, 2_999)
    assert set_credit(held, CUSTOMER, 3_000)


def test_hostile_customer_ids_are_refused() -> None:
    with pytest.raises(InvalidIdentifier):
        set_credit(Credit(), "a\x00b", 1)


# --- authorising ---------------------------------------------------------------------


def test_authorising_holds_the_amount() -> None:
    account = credit(5_000)
    decision = authorize(Payment(), account, ORDER_ID, CUSTOMER, 5_000)
    assert decision == {
        payment_stream(ORDER_ID): [
            PaymentAuthorized(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=5_000)
        ],
        credit_stream(CUSTOMER): [
            CreditHeld(customer_id=CUSTOMER, order_id=ORDER_ID, amount_cents=5_000)
        ],
    }
    payment, after = apply(Payment(), account, decision)
    assert payment.status is PaymentStatus.AUTHORIZED
    assert (after.available, dict(after.held)) == (0, {ORDER_ID: 5_000})


def test_one_cent_over_credit_is_declined_and_holds_nothing() -> None:
    decision = authorize(Payment(), credit(5_000), ORDER_ID, CUSTOMER, 5_001)
    assert decision == {
        payment_stream(ORDER_ID): [
            PaymentDeclined(order_id=ORDER_ID, customer_id=CUSTOMER, reason="over_credit")
        ]
    }


def test_other_orders_holdings_count_against_the_limit() -> None:
    busy = credit(5_000, held_by(OTHER_ORDER_ID, 4_000))
    [declined] = authorize(Payment(), busy, ORDER_ID, CUSTOMER, 1_001)[payment_stream(ORDER_ID)]
    assert isinstance(declined, PaymentDeclined) and declined.reason == "over_credit"


def test_a_customer_without_credit_is_unknown() -> None:
    decision = authorize(Payment(), Credit(), ORDER_ID, CUSTOMER, 1)
    [declined] = decision[payment_stream(ORDER_ID)]
    assert isinstance(declined, PaymentDeclined) and declined.reason == "unknown_customer"


def test_a_zero_limit_is_a_known_customer_with_no_credit() -> None:
    [declined] = authorize(Payment(), credit(0), ORDER_ID, CUSTOMER, 1)[payment_stream(ORDER_ID)]
    assert isinstance(declined, PaymentDeclined) and declined.reason == "over_credit"


def test_authorising_again_changes_nothing() -> None:
    account = credit(5_000)
    decision = authorize(Payment(), account, ORDER_ID, CUSTOMER, 10)
    payment, after = apply(Payment(), account, decision)
    assert authorize(payment, after, ORDER_ID, CUSTOMER, 10) == {}
    declined, _ = apply(Payment(), account, authorize(Payment(), Credit(), ORDER_ID, CUSTOMER, 10))
    assert authorize(declined, account, ORDER_ID, CUSTOMER, 10) == {}


@pytest.mark.parametrize("amount", [0, -5, 10**12 + 1, True, 1.5])
def test_bad_amounts_are_refused(amount: object) -> None:
    with pytest.raises(InvalidAmount):
        authorize(Payment(), credit(5_000), ORDER_ID, CUSTOMER, amount)  # type: ignore[arg-type]


# --- voiding -------------------------------------------------------------------------


def test_voiding_releases_exactly_what_the_order_holds() -> None:
    account = credit(5_000, held_by(OTHER_ORDER_ID, 1_000))
    authorized = authorize(Payment(), account, ORDER_ID, CUSTOMER, 3_000)
    payment, held = apply(Payment(), account, authorized)
    decision = void(payment, held, ORDER_ID)
    assert decision == {
        payment_stream(ORDER_ID): [
            PaymentVoided(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=3_000)
        ],
        credit_stream(CUSTOMER): [
            CreditReleased(customer_id=CUSTOMER, order_id=ORDER_ID, amount_cents=3_000)
        ],
    }
    voided, after = apply(payment, held, decision)
    assert voided.status is PaymentStatus.VOIDED
    assert (after.available, dict(after.held)) == (4_000, {OTHER_ORDER_ID: 1_000})
    assert void(voided, after, ORDER_ID) == {}


def test_nothing_to_void_without_an_authorisation() -> None:
    assert void(Payment(), credit(5_000), ORDER_ID) == {}
    declined, _ = apply(Payment(), Credit(), authorize(Payment(), Credit(), ORDER_ID, CUSTOMER, 1))
    assert void(declined, credit(5_000), ORDER_ID) == {}


# --- cancelling (choreography: the order expired) -------------------------------------


def test_cancelling_an_authorisation_voids_it() -> None:
    account = credit(5_000)
    payment, held = apply(Payment(), account, authorize(Payment(), account, ORDER_ID, CUSTOMER, 10))
    assert cancel(payment, held, ORDER_ID) == void(payment, held, ORDER_ID)


def test_cancelling_before_any_request_is_its_own_event_not_a_void_of_nothing() -> None:
    # given a payment nobody asked for yet, when the order is called off
    decision = cancel(Payment(), Credit(), ORDER_ID)
    # then the payment says it was cancelled; no void with an empty customer, no credit touched
    assert decision == {payment_stream(ORDER_ID): [PaymentCancelled(order_id=ORDER_ID)]}
    events = [event for stream in decision.values() for event in stream]
    assert not any(isinstance(event, PaymentVoided) for event in events)
    closed, account = apply(Payment(), credit(5_000), decision)
    assert (closed.status, closed.order_id, closed.customer_id, closed.amount_cents) == (
        PaymentStatus.CANCELLED, ORDER_ID, "", 0)
    assert (closed.version, account.available) == (1, 5_000)


def test_a_cancelled_payment_is_closed_for_good() -> None:
    closed, account = apply(Payment(), credit(5_000), cancel(Payment(), Credit(), ORDER_ID))
    # a late request (overtaken by the expiry) authorises nothing and holds nothing
    assert authorize(closed, account, ORDER_ID, CUSTOMER, 10) == {}
    # and calling it off again, or voiding it, changes nothing
    assert cancel(closed, account, ORDER_ID) == {}
    assert void(closed, account, ORDER_ID) == {}


def test_cancelling_a_settled_payment_changes_nothing() -> None:
    declined, _ = apply(Payment(), Credit(), authorize(Payment(), Credit(), ORDER_ID, CUSTOMER, 1))
    assert cancel(declined, Credit(), ORDER_ID) == {}
