"""The shop domain on every saver kind: seed data, scoping, business rules, the ledger's
exactly-once guarantee (also under concurrent callers and processes) and migrations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial
from pathlib import Path

import pytest

from agent.domain.seed import ORDERS, USERS, seed_demo_shop
from agent.domain.shop import MAX_ADDRESS_CHARS, Customer, Shop, ShopRuleError, reference
from agent.persistence.migrations import MIGRATIONS, migrate, schema_version
from agent.persistence.savers import Persistence, open_persistence
from agent.settings import Settings

ALICE = Customer("acme", "alice")
BOB = Customer("acme", "bob")
DAVE = Customer("globex", "dave")
ERIN = Customer("globex", "erin")

# Seed facts the rules below rely on (see agent/domain/seed.py).
BOOTS = "ORD-1001"  # alice, delivered, $129.00
JACKET = "ORD-1002"  # alice, shipped, $54.50
TENT = "ORD-1003"  # alice, processing, $240.00
ERIN_CANCELLED = "ORD-2102"  # erin, cancelled, $49.00

# Enough simultaneous callers to make a lost race likely, few enough to stay fast.
RACERS = 8


@pytest.fixture
def persistence(settings: Settings) -> Iterator[Persistence]:
    """The parametrised saver's persistence, closed afterwards."""
    opened = open_persistence(settings)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def shop(persistence: Persistence) -> Shop:
    """A Shop on the parametrised saver's app database."""
    return Shop(persistence.db)


@pytest.fixture
def shops(saver: str, settings: Settings, shop: Shop) -> Iterator[list[Shop]]:
    """Shops that share one database; for file/server savers a second, separate persistence
    (its own connection or pool) stands in for a second process."""
    if saver == "memory":
        # An in-memory database is private to its connection: threads are all we can race.
        yield [shop]
        return
    second = open_persistence(settings)
    try:
        yield [shop, Shop(second.db)]
    finally:
        second.close()


def race(calls: list[Callable[[], str]]) -> list[str | ShopRuleError]:
    """Run the calls in threads released together; return each result or ShopRuleError."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], str]) -> str | ShopRuleError:
        barrier.wait(timeout=10)
        try:
            return call()
        except ShopRuleError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def count(shop: Shop, table: str) -> int:
    """Rows in one of the app tables."""
    row = shop.db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


# --- seed data -----------------------------------------------------------------------------------


def test_seed_has_customers_and_supervisors_in_two_tenants(shop: Shop) -> None:
    """At least five customers over two tenants, and a supervisor in each tenant."""
    users = shop.list_users()
    customers = [user for user in users if user.role == "customer"]
    supervisors = [user for user in users if user.is_supervisor]
    assert len(customers) >= 5
    assert len({user.tenant for user in customers}) >= 2
    assert {user.tenant for user in supervisors} == {user.tenant for user in customers}
    assert {user.user_id for user in users} == {user.user_id for user in USERS}


def test_get_user_reads_role_and_tenant_from_the_database(shop: Shop) -> None:
    """get_user returns the stored tenant and role; an unknown id gives None."""
    sam = shop.get_user("sam")
    assert sam is not None and sam.is_supervisor and sam.tenant == "acme"
    alice = shop.get_user("alice")
    assert alice is not None and not alice.is_supervisor and alice.display_name == "Alice Martin"
    assert shop.get_user("mallory") is None


def test_every_seed_order_is_complete(shop: Shop) -> None:
    """Every order has items, a matching amount, a status and an address; shipped ones track."""
    orders = [
        order
        for user in shop.list_users()
        for order in shop.list_orders(Customer(user.tenant, user.user_id))
    ]
    assert {order.order_id for order in orders} == {order.order_id for order in ORDERS}
    for order in orders:
        assert order.items, order.order_id
        assert all(item["name"] and item["qty"] >= 1 for item in order.items), order.order_id
        # The stored total is the sum of the lines, so refund limits match what was paid.
        assert order.amount_cents == sum(i["qty"] * i["price_cents"] for i in order.items)
        assert order.amount_cents > 0
        assert order.status in {"processing", "shipped", "delivered", "cancelled"}
        assert order.shipping_address.strip()
        if order.status in {"shipped", "delivered"}:
            assert order.carrier and order.tracking_number, order.order_id
        assert order.refunded_cents == 0
    assert {order.status for order in orders} == {"processing", "shipped", "delivered",
                                                  "cancelled"}


def test_delivered_seed_orders_have_a_delivery_date(shop: Shop) -> None:
    """A supervisor judging a return needs the delivery date: a few days after the order."""
    orders = [order for user in shop.list_users()
              for order in shop.list_orders(Customer(user.tenant, user.user_id))]
    for order in orders:
        if order.status == "delivered":
            assert order.delivered_at is not None, order.order_id
            days = (date.fromisoformat(order.delivered_at)
                    - date.fromisoformat(order.placed_at)).days
            assert 1 <= days <= 10, order.order_id
        else:
            assert order.delivered_at is None, order.order_id


def test_seeding_again_dates_demo_orders_seeded_before_dates_existed(shop: Shop) -> None:
    """A database seeded before orders had a delivery date gets the demo dates on the next
    `seed --demo`, which still reports that it added nothing; other orders keep theirs."""
    shop.db.execute("UPDATE support_orders SET delivered_at = NULL")
    shop.db.execute("UPDATE support_orders SET delivered_at = '2026-12-24', status = 'delivered'"
                    " WHERE order_id = ?", (JACKET,))
    shop.db.execute("UPDATE support_orders SET status = 'shipped' WHERE order_id = 'ORD-1101'")
    with shop.db.transaction() as session:
        report = seed_demo_shop(session)
    assert (report.users_added, report.orders_added) == ((), ())
    assert shop.get_order(ALICE, BOOTS).delivered_at == "2026-10-06"
    assert shop.get_order(ALICE, JACKET).delivered_at == "2026-12-24"  # not a demo date
    assert shop.get_order(BOB, "ORD-1101").delivered_at is None  # no longer delivered


# --- scoping -------------------------------------------------------------------------------------


def test_customer_sees_only_their_own_orders(shop: Shop) -> None:
    """list_orders is scoped to the customer, newest first."""
    assert [order.order_id for order in shop.list_orders(ALICE)] == [TENT, JACKET, BOOTS]
    assert [order.order_id for order in shop.list_orders(BOB)] == ["ORD-1102", "ORD-1101"]
    # The right user id in the wrong tenant owns nothing.
    assert shop.list_orders(Customer("globex", "alice")) == []


def test_someone_elses_order_looks_like_an_unknown_one(shop: Shop) -> None:
    """Bob naming Alice's order is refused without revealing whose it is or what it holds."""
    with pytest.raises(ShopRuleError) as foreign:
        shop.get_order(BOB, BOOTS)
    message = str(foreign.value)
    for secret in ("alice", "Alice", "boots", "Elm", "129", "delivered", "UPS"):
        assert secret not in message
    # Same wording as an order that does not exist at all: no oracle for guessing ids.
    with pytest.raises(ShopRuleError) as missing:
        shop.get_order(BOB, "ORD-9999")
    assert message == str(missing.value).replace("ORD-9999", BOOTS)
    # Another tenant's customer is refused the same way.
    with pytest.raises(ShopRuleError):
        shop.get_order(DAVE, BOOTS)


def test_no_side_effect_on_someone_elses_order(shop: Shop) -> None:
    """Refund, cancel and address change on another customer's order change nothing."""
    with pytest.raises(ShopRuleError, match="no order"):
        shop.issue_refund(BOB, BOOTS, None, "mine now", key="k1")
    with pytest.raises(ShopRuleError, match="no order"):
        shop.cancel_order(BOB, TENT, "mine now", key="k2")
    with pytest.raises(ShopRuleError, match="no order"):
        shop.change_shipping_address(DAVE, TENT, "1 Thief Road", key="k3")
    assert shop.ledger() == []
    tent = shop.get_order(ALICE, TENT)
    assert tent.status == "processing" and tent.shipping_address == "12 Elm Street, Springfield"


def test_order_id_is_normalised(shop: Shop) -> None:
    """Order ids are matched case-insensitively and without surrounding spaces."""
    assert shop.get_order(ALICE, "  ord-1001 ").order_id == BOOTS


# --- refunds -------------------------------------------------------------------------------------


def test_full_refund_refunds_what_is_left(shop: Shop) -> None:
    """amount=None refunds the whole remaining amount and records it in the ledger."""
    result = shop.issue_refund(ALICE, BOOTS, None, "too small", key="full", thread_id="t1")
    assert "Refunded $129.00 on ORD-1001" in result
    assert reference("full") in result
    assert shop.get_order(ALICE, BOOTS).refunded_cents == 12900
    [entry] = shop.ledger(order_id=BOOTS)
    assert (entry.kind, entry.amount_cents, entry.customer_id, entry.tenant) == (
        "refund", 12900, "alice", "acme")
    assert entry.details == {"reason": "too small"}
    assert entry.thread_id == "t1" and entry.result == result


def test_partial_refunds_accumulate(shop: Shop) -> None:
    """Partial refunds add up, and a later full refund takes only the rest."""
    shop.issue_refund(ALICE, JACKET, 20, "stain", key="p1")
    shop.issue_refund(ALICE, JACKET, 14.5, "zip", key="p2")
    assert shop.get_order(ALICE, JACKET).refunded_cents == 3450
    assert "Refunded $20.00" in shop.issue_refund(ALICE, JACKET, None, "rest", key="p3")
    assert shop.get_order(ALICE, JACKET).refunded_cents == 5450
    assert [entry.amount_cents for entry in shop.ledger(order_id=JACKET)] == [2000, 1450, 2000]


def test_refund_above_remaining_is_refused_naming_both_amounts(shop: Shop) -> None:
    """Asking for more than is left names the request and what is still refundable."""
    with pytest.raises(ShopRuleError) as too_much:
        shop.issue_refund(ALICE, JACKET, 60, "", key="big")
    assert "$60.00" in str(too_much.value) and "$54.50" in str(too_much.value)
    shop.issue_refund(ALICE, JACKET, 20, "", key="part")
    with pytest.raises(ShopRuleError) as over_rest:
        shop.issue_refund(ALICE, JACKET, 40, "", key="more")
    assert "$40.00" in str(over_rest.value) and "$34.50" in str(over_rest.value)
    # Refused requests leave no ledger row behind.
    assert [entry.idempotency_key for entry in shop.ledger()] == ["part"]


def test_refund_of_fully_refunded_order_with_amount_is_refused(shop: Shop) -> None:
    """Once everything is refunded, a further refund of any amount is refused."""
    shop.issue_refund(ALICE, BOOTS, None, "", key="all")
    with pytest.raises(ShopRuleError, match="refunded in full already"):
        shop.issue_refund(ALICE, BOOTS, 5, "", key="again")
    assert len(shop.ledger()) == 1


def test_full_refund_of_fully_refunded_order_says_so(shop: Shop) -> None:
    """A second 'refund everything' on a fully refunded order says it was refunded already."""
    shop.issue_refund(ALICE, BOOTS, None, "", key="all")
    with pytest.raises(ShopRuleError, match="refunded in full already"):
        shop.issue_refund(ALICE, BOOTS, None, "", key="again")


def test_refund_of_processing_order_suggests_cancelling(shop: Shop) -> None:
    """An order that has not shipped is not refunded; the message points to cancelling."""
    with pytest.raises(ShopRuleError, match="cancelled instead"):
        shop.issue_refund(ALICE, TENT, 10, "", key="r")
    assert shop.ledger() == []


def test_refund_of_cancelled_order_is_refused(shop: Shop) -> None:
    """A cancelled order was refunded by its cancellation; no further refund."""
    with pytest.raises(ShopRuleError, match="cancelled"):
        shop.issue_refund(ERIN, ERIN_CANCELLED, None, "", key="r")
    assert shop.ledger() == []


def test_non_positive_refund_is_refused(shop: Shop) -> None:
    """Zero, negative and amounts that round to zero cents are refused."""
    # Cases share one database: each PostgreSQL database costs a third of a second to make.
    for amount in (0, -5, -0.01, 0.004):
        with pytest.raises(ShopRuleError, match="positive amount"):
            shop.issue_refund(ALICE, BOOTS, amount, "", key=f"r{amount}")
    assert shop.ledger() == []


def test_non_numeric_refund_is_refused(shop: Shop) -> None:
    """Something that is not an amount of money is a rule error, not a crash."""
    for amount in ("abc", float("inf"), float("-inf")):
        with pytest.raises(ShopRuleError, match="not an amount of money"):
            shop.issue_refund(ALICE, BOOTS, amount, "", key=f"r{amount}")  # type: ignore[arg-type]
    assert shop.ledger() == []


def test_nan_refund_is_a_rule_error(shop: Shop) -> None:
    """NaN is refused like any other non-amount instead of crashing with ValueError."""
    with pytest.raises(ShopRuleError):
        shop.issue_refund(ALICE, BOOTS, float("nan"), "", key="r")


def test_refund_amount_precision(shop: Shop) -> None:
    """Dollar amounts become exact whole cents."""
    refunded = 0
    for amount, cents, shown in [
        (10.005, 1001, "$10.01"),  # half a cent rounds up, as a person would
        (19.99, 1999, "$19.99"),  # no binary-float drift (19.99 * 100 == 1998.9999...)
        (0.1 + 0.2, 30, "$0.30"),
        ("7.5", 750, "$7.50"),  # the model may write the amount as a string
    ]:
        result = shop.issue_refund(ALICE, BOOTS, amount, "", key=f"r{amount}")  # type: ignore[arg-type]
        assert f"Refunded {shown} " in result
        refunded += cents
        assert shop.get_order(ALICE, BOOTS).refunded_cents == refunded, amount
    assert [entry.amount_cents for entry in shop.ledger()] == [1001, 1999, 30, 750]


# --- cancellations -------------------------------------------------------------------------------


def test_processing_order_cancels(shop: Shop) -> None:
    """A processing order becomes cancelled with a ledger row for the full amount."""
    result = shop.cancel_order(ALICE, TENT, "changed my mind", key="c", thread_id="t")
    assert "Cancelled ORD-1003" in result and "$240.00" in result
    order = shop.get_order(ALICE, TENT)
    assert order.status == "cancelled" and order.refunded_cents == 24000
    [entry] = shop.ledger()
    assert (entry.kind, entry.order_id, entry.amount_cents) == ("cancellation", TENT, 24000)
    # Cancelled means refunded: no refund on top of it.
    with pytest.raises(ShopRuleError, match="cancelled"):
        shop.issue_refund(ALICE, TENT, None, "", key="r")


def test_cancel_refused_once_not_processing(shop: Shop) -> None:
    """Only a processing order can be cancelled; the refusal says what to do instead."""
    for customer, order_id, status, advice in [
        (ALICE, BOOTS, "delivered", "ask for a refund"),
        (ALICE, JACKET, "shipped", "on its way"),
        (ERIN, ERIN_CANCELLED, "cancelled", "cancelled already"),
    ]:
        with pytest.raises(ShopRuleError) as refused:
            shop.cancel_order(customer, order_id, "", key=f"c-{order_id}")
        assert "cannot be cancelled" in str(refused.value) and advice in str(refused.value)
        assert shop.get_order(customer, order_id).status == status
    assert shop.ledger() == []


# --- address changes -----------------------------------------------------------------------------


def test_processing_order_address_changes(shop: Shop) -> None:
    """The new address (whitespace tidied) is stored and the ledger keeps old and new."""
    result = shop.change_shipping_address(ALICE, TENT, "  5 New   Road,\nSpringfield ", key="a")
    assert "5 New Road, Springfield" in result
    assert shop.get_order(ALICE, TENT).shipping_address == "5 New Road, Springfield"
    [entry] = shop.ledger()
    assert (entry.kind, entry.amount_cents) == ("address_change", 0)
    assert entry.details == {"old": "12 Elm Street, Springfield",
                             "new": "5 New Road, Springfield"}
    # An address change is not money back.
    assert shop.get_order(ALICE, TENT).refunded_cents == 0


def test_address_change_refused_after_shipping(shop: Shop) -> None:
    """Shipped or delivered orders keep their address."""
    for order_id in (JACKET, BOOTS):
        before = shop.get_order(ALICE, order_id).shipping_address
        with pytest.raises(ShopRuleError, match="can no longer be changed"):
            shop.change_shipping_address(ALICE, order_id, "5 New Road", key=f"a-{order_id}")
        assert shop.get_order(ALICE, order_id).shipping_address == before
    assert shop.ledger() == []


def test_bad_new_address_is_refused(shop: Shop) -> None:
    """Empty, over-long and unchanged addresses are refused without a ledger row."""
    for address, why in [
        ("", "empty"),
        (" \n\t ", "empty"),
        ("x" * (MAX_ADDRESS_CHARS + 1), "longer than"),
        ("12 Elm Street, Springfield", "already ships to"),
        ("12  Elm Street,   Springfield ", "already ships to"),  # same once spaces are tidied
    ]:
        with pytest.raises(ShopRuleError, match=why):
            shop.change_shipping_address(ALICE, TENT, address, key=f"a{len(address)}")
    assert shop.ledger() == []
    assert shop.get_order(ALICE, TENT).shipping_address == "12 Elm Street, Springfield"


# --- exactly once --------------------------------------------------------------------------------


def test_same_key_refunds_once(shop: Shop) -> None:
    """A repeated refund with the same key answers the same and changes nothing more."""
    first = shop.issue_refund(ALICE, JACKET, 10, "", key="same")
    again = shop.issue_refund(ALICE, JACKET, 10, "", key="same")
    assert again == first
    assert len(shop.ledger()) == 1
    assert shop.get_order(ALICE, JACKET).refunded_cents == 1000


def test_same_key_returns_first_answer_even_if_arguments_differ(shop: Shop) -> None:
    """A replay is identified by its key alone: it never performs a second, different effect."""
    first = shop.issue_refund(ALICE, JACKET, 10, "", key="same")
    assert shop.issue_refund(ALICE, JACKET, 30, "", key="same") == first
    assert shop.get_order(ALICE, JACKET).refunded_cents == 1000


def test_same_key_cancels_and_changes_address_once(shop: Shop) -> None:
    """Replays of a cancellation or address change return the first answer, not a refusal."""
    moved = shop.change_shipping_address(ALICE, TENT, "5 New Road", key="move")
    # The address now equals the request, which a new call would refuse; the replay must not.
    assert shop.change_shipping_address(ALICE, TENT, "5 New Road", key="move") == moved
    cancelled = shop.cancel_order(ALICE, TENT, "", key="cancel")
    # The order is cancelled now, which a new call would refuse; the replay must not.
    assert shop.cancel_order(ALICE, TENT, "", key="cancel") == cancelled
    assert [entry.kind for entry in shop.ledger()] == ["address_change", "cancellation"]


def test_different_keys_are_separate_effects(shop: Shop) -> None:
    """Two keys make two ledger rows with two references."""
    first = shop.issue_refund(ALICE, JACKET, 10, "", key="k-1")
    second = shop.issue_refund(ALICE, JACKET, 10, "", key="k-2")
    assert first != second
    assert reference("k-1") in first and reference("k-2") in second
    assert [entry.idempotency_key for entry in shop.ledger()] == ["k-1", "k-2"]
    assert shop.get_order(ALICE, JACKET).refunded_cents == 2000


def test_refused_call_does_not_use_up_its_key(shop: Shop) -> None:
    """A refusal rolls back, so nothing is recorded under its key."""
    with pytest.raises(ShopRuleError):
        shop.issue_refund(ALICE, JACKET, 999, "", key="k")
    assert shop.ledger() == []
    assert "Refunded $5.00" in shop.issue_refund(ALICE, JACKET, 5, "", key="k")


def test_ledger_filters_by_tenant_and_order(shop: Shop) -> None:
    """ledger() narrows to one tenant or one order, oldest first."""
    shop.issue_refund(ALICE, BOOTS, 1, "", key="a1")
    shop.issue_refund(ALICE, JACKET, 2, "", key="a2")
    shop.issue_refund(DAVE, "ORD-2001", 3, "", key="d1")
    assert [e.idempotency_key for e in shop.ledger()] == ["a1", "a2", "d1"]
    assert [e.idempotency_key for e in shop.ledger(tenant="acme")] == ["a1", "a2"]
    assert [e.idempotency_key for e in shop.ledger(tenant="globex")] == ["d1"]
    assert [e.idempotency_key for e in shop.ledger(order_id=JACKET)] == ["a2"]
    assert shop.ledger(tenant="globex", order_id=JACKET) == []


# --- concurrency ---------------------------------------------------------------------------------


def test_concurrent_same_key_refunds_once(shops: list[Shop]) -> None:
    """Callers racing with one key (threads and, on disk, two persistences) refund once and all
    get the same answer."""
    calls = [partial(shops[i % len(shops)].issue_refund, ALICE, BOOTS, 10, "", key="race-key")
             for i in range(RACERS)]
    results = race(calls)
    assert all(isinstance(result, str) for result in results), results
    assert len(set(results)) == 1
    for shop in shops:
        assert len(shop.ledger()) == 1
        assert shop.get_order(ALICE, BOOTS).refunded_cents == 1000


# Orders that can be refunded (shipped or delivered), one per round of the race below.
TENANT_OF = {user.user_id: user.tenant for user in USERS}
REFUNDABLE = [
    (Customer(TENANT_OF[order.customer_id], order.customer_id), order.order_id,
     order.amount_cents)
    for order in ORDERS if order.status in ("shipped", "delivered")
]


@pytest.mark.parametrize("saver", [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
])
def test_concurrent_different_keys_never_over_refund(shops: list[Shop]) -> None:
    """Callers racing with different keys for one order's remaining amount cannot refund more
    than was paid: exactly as many succeed as the amount allows."""
    # One round per refundable order: a lost race shows up in at least one of them.
    for customer, order_id, amount_cents in REFUNDABLE:
        # Each caller asks for 40% of the total, so exactly two of them fit.
        ask = amount_cents * 40 // 100
        calls = [partial(shops[i % len(shops)].issue_refund, customer, order_id, ask / 100, "",
                         key=f"{order_id}-{i}")
                 for i in range(RACERS)]
        results = race(calls)
        succeeded = [result for result in results if isinstance(result, str)]
        for shop in shops:
            refunded = shop.get_order(customer, order_id).refunded_cents
            assert refunded <= amount_cents, f"{order_id} over-refunded"
            assert len(succeeded) == 2 and refunded == 2 * ask, order_id
            assert sum(e.amount_cents for e in shop.ledger(order_id=order_id)) == refunded


def test_concurrent_cancellations_cancel_once(shops: list[Shop]) -> None:
    """Racing cancellations with different keys cancel once; the rest are refused."""
    calls = [partial(shops[i % len(shops)].cancel_order, ALICE, TENT, "", key=f"c{i}")
             for i in range(RACERS)]
    results = race(calls)
    assert sum(isinstance(result, str) for result in results) == 1
    [entry] = shops[0].ledger()
    assert entry.kind == "cancellation" and entry.amount_cents == 24000
    assert shops[-1].get_order(ALICE, TENT).refunded_cents == 24000


# Not run on postgres: there two same-key INSERTs can both pass the ON CONFLICT
# (idempotency_key) pre-check and then collide on the ticket_id primary key (UniqueViolation).
# That race is too rare per attempt (about 1%) to reproduce reliably here; its root cause is
# shown deterministically by test_distinct_keys_with_colliding_ticket_ids_open_two_tickets.
@pytest.mark.parametrize("saver", ["memory", "sqlite"])
def test_concurrent_same_key_ticket_opens_once(shops: list[Shop]) -> None:
    """Racing open_ticket calls with one key make one ticket and give one answer."""
    calls = [partial(shops[i % len(shops)].open_ticket, ALICE, "Broken zip", "help", key="t-key")
             for i in range(RACERS)]
    results = race(calls)
    assert len(set(results)) == 1 and isinstance(results[0], str)
    assert len(shops[0].tickets(ALICE)) == 1


# --- tickets -------------------------------------------------------------------------------------


def test_open_ticket_is_idempotent_per_key(shop: Shop) -> None:
    """The same key opens one ticket; a new key opens another; both list for their owner only."""
    first = shop.open_ticket(ALICE, "  Broken \n zip ", "The zip broke.", key="t1", thread_id="th")
    assert first.startswith("Opened ticket TCK-") and "Broken zip" in first
    assert shop.open_ticket(ALICE, "Broken zip", "The zip broke.", key="t1") == first
    shop.open_ticket(ALICE, "Warranty", "Boots leak.", key="t2")
    tickets = shop.tickets(ALICE)
    assert [ticket["subject"] for ticket in tickets] == ["Broken zip", "Warranty"]
    assert tickets[0]["status"] == "open" and tickets[0]["thread_id"] == "th"
    assert tickets[0]["ticket_id"] in first
    assert shop.tickets(BOB) == []
    # Same user id in another tenant is another customer.
    assert shop.tickets(Customer("globex", "alice")) == []
    # Tickets are not side effects on orders: the ledger stays empty.
    assert shop.ledger() == []


def test_distinct_keys_with_colliding_ticket_ids_open_two_tickets(shop: Shop) -> None:
    """Two different keys always open two tickets, even when their short hashes collide."""
    # Found by a birthday search: these keys share the first 8 hex digits of their SHA-256,
    # which at around 65,000 tickets is more likely than not to happen somewhere.
    first_key, second_key = "thread-18315:call", "thread-24831:call"
    assert reference(first_key) == reference(second_key)
    shop.open_ticket(ALICE, "First", "one", key=first_key)
    shop.open_ticket(BOB, "Second", "two", key=second_key)
    assert len(shop.tickets(ALICE)) == len(shop.tickets(BOB)) == 1


def test_open_ticket_with_blank_subject_gets_a_default(shop: Shop) -> None:
    """A subject of only whitespace still makes a usable ticket."""
    assert "Support request" in shop.open_ticket(BOB, "   ", "details", key="t")


# --- migrations ----------------------------------------------------------------------------------


def test_migrate_twice_is_a_no_op(shop: Shop) -> None:
    """Running the migrations again keeps the version and adds no seed rows."""
    latest = max(migration.version for migration in MIGRATIONS)
    assert schema_version(shop.db) == latest
    shop.issue_refund(ALICE, BOOTS, 1, "", key="before")
    assert migrate(shop.db) == latest
    assert migrate(shop.db) == latest
    assert schema_version(shop.db) == latest
    assert count(shop, "support_migrations") == len(MIGRATIONS)
    assert count(shop, "support_users") == len(USERS)
    assert count(shop, "support_orders") == len(ORDERS)
    # Re-seeding must not undo what happened since.
    assert shop.get_order(ALICE, BOOTS).refunded_cents == 100


@pytest.mark.parametrize("saver", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_reopening_keeps_data_and_does_not_reseed(settings: Settings) -> None:
    """Opening the same database again migrates nothing and keeps earlier changes."""
    first = open_persistence(settings)
    try:
        Shop(first.db).cancel_order(ALICE, TENT, "", key="c")
    finally:
        first.close()
    second = open_persistence(settings)
    try:
        shop = Shop(second.db)
        assert shop.get_order(ALICE, TENT).status == "cancelled"
        assert count(shop, "support_orders") == len(ORDERS)
        assert count(shop, "support_migrations") == len(MIGRATIONS)
    finally:
        second.close()


def open_together(settings: Settings, openers: int) -> list[Persistence]:
    """Open `openers` persistences on one database at the same moment; raise the first error."""
    barrier = threading.Barrier(openers)

    def open_one() -> Persistence:
        barrier.wait(timeout=10)
        return open_persistence(settings)

    with ThreadPoolExecutor(max_workers=openers) as pool:
        futures = [pool.submit(open_one) for _ in range(openers)]
    failures = [future.exception() for future in futures if future.exception() is not None]
    opened = [future.result() for future in futures if future.exception() is None]
    if failures:
        for persistence in opened:
            persistence.close()
        raise failures[0]
    return opened


def check_and_close(opened: list[Persistence]) -> None:
    """Each persistence sees one fully migrated, seeded database; then close them all."""
    try:
        for persistence in opened:
            shop = Shop(persistence.db)
            assert schema_version(shop.db) == max(m.version for m in MIGRATIONS)
            assert count(shop, "support_users") == len(USERS)
            assert count(shop, "support_orders") == len(ORDERS)
            assert count(shop, "support_migrations") == len(MIGRATIONS)
    finally:
        for persistence in opened:
            persistence.close()


@pytest.mark.parametrize("saver", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_concurrent_opens_of_an_existing_database_all_succeed(settings: Settings) -> None:
    """Processes starting side by side on an existing database (the usual restart) all open."""
    open_persistence(settings).close()
    for _ in range(5):
        check_and_close(open_together(settings, 4))


# Rounds of simultaneous first opens; each round loses the race about a quarter of the time.
OPEN_ROUNDS = 30
OPENERS = 4


def test_sqlite_concurrent_first_open_all_succeed(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    """Several persistences opening (and so migrating) one new SQLite file at once all work."""
    for round_no in range(OPEN_ROUNDS):
        settings = make_settings("sqlite", sqlite_path=tmp_path / f"round{round_no}.db")
        check_and_close(open_together(settings, OPENERS))
