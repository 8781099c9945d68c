"""Two calls with one idempotency key at the same moment give one answer and one ledger row.

The key is checked again once the order's row is locked: a call that queued behind another
with the same key must answer as that one did, not judge the order the first call changed
("refunded in full already", "cancelled already"). The calls come from two persistences (two
connections or pools, as two processes would) on the real database. On PostgreSQL a third
connection holds the order's row lock until both calls wait for it, so the race happens every
time; on SQLite the write transaction is the lock, and a third connection holds that.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from agent.domain.shop import Customer, Shop, ShopRuleError
from agent.persistence.savers import open_persistence
from agent.settings import Settings

ALICE = Customer("acme", "alice")
BOOTS = "ORD-1001"  # alice, delivered, $129.00
TENT = "ORD-1003"  # alice, processing, $240.00
KEY = "t_race:call_1"
WAIT_SECONDS = 30.0

# Each side effect, called with the full amount or a state change, so the second call would
# be refused by the shop's rules if it judged the order instead of finding the key.
OPERATIONS = {
    "refund": (BOOTS, lambda shop: shop.issue_refund(ALICE, BOOTS, None, "leaks", key=KEY)),
    "cancel": (TENT, lambda shop: shop.cancel_order(ALICE, TENT, "not needed", key=KEY)),
    "address": (TENT, lambda shop: shop.change_shipping_address(
        ALICE, TENT, "1 New Street, Springfield", key=KEY)),
}


@pytest.fixture
def two_shops(request: pytest.FixtureRequest,
              make_settings: Callable[..., Settings]) -> Iterator[tuple[Settings, list[Shop]]]:
    """Two Shops on one database, each on its own persistence (as two processes would be)."""
    settings = make_settings(request.param)
    opened = [open_persistence(settings), open_persistence(settings)]
    try:
        yield settings, [Shop(persistence.db) for persistence in opened]
    finally:
        for persistence in opened:
            persistence.close()


def answer(call: Callable[[Shop], str], shop: Shop) -> str:
    """What the caller is told: the result, or the shop's refusal."""
    try:
        return call(shop)
    except ShopRuleError as exc:
        return f"refused: {exc}"


def postgres_lock_waiters(url: str) -> int:
    """Sessions of this database waiting for a lock, seen from a fresh session."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                           " AND datname = current_database()").fetchone()
    return int(row[0])


def assert_one_answer_one_row(results: list[str], shop: Shop) -> None:
    assert results[0] == results[1], results
    assert not results[0].startswith("refused"), results[0]
    assert [entry.idempotency_key for entry in shop.ledger()] == [KEY]


@pytest.mark.postgres
@pytest.mark.parametrize("two_shops", ["postgres"], indirect=True)
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_postgres_same_key_calls_queued_on_the_order_row_answer_alike(
        operation: str, two_shops: tuple[Settings, list[Shop]]) -> None:
    """Both calls pass the early key check, then wait for the order's row: the second one in
    finds the first one's ledger row under the lock and answers with it."""
    settings, shops = two_shops
    order_id, call = OPERATIONS[operation]
    url = settings.postgres_url
    with ThreadPoolExecutor(max_workers=2) as workers, \
            psycopg.connect(url, autocommit=True) as blocker:
        with blocker.transaction():
            blocker.execute("SELECT 1 FROM support_orders WHERE order_id = %s FOR UPDATE",
                            (order_id,))
            calls = [workers.submit(answer, call, shop) for shop in shops]
            deadline = time.monotonic() + WAIT_SECONDS
            while postgres_lock_waiters(url) < 2:
                assert time.monotonic() < deadline, "the calls never queued on the order's row"
                assert not any(c.done() for c in calls), [c.result() for c in calls if c.done()]
                time.sleep(0.02)
        # The blocker committed: the calls take the row one after the other.
        results = [c.result(timeout=WAIT_SECONDS) for c in calls]
    assert_one_answer_one_row(results, shops[0])


@pytest.mark.parametrize("two_shops", ["sqlite"], indirect=True)
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_sqlite_same_key_calls_queued_on_the_write_lock_answer_alike(
        operation: str, two_shops: tuple[Settings, list[Shop]]) -> None:
    """Both calls wait for the database's write lock (their transactions begin IMMEDIATE, so
    the key check is already under it): the second one in answers with the first one's row."""
    settings, shops = two_shops
    _, call = OPERATIONS[operation]
    blocker = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    try:
        with ThreadPoolExecutor(max_workers=2) as workers:
            blocker.execute("BEGIN IMMEDIATE")
            calls = [workers.submit(answer, call, shop) for shop in shops]
            time.sleep(0.3)  # lets both reach their BEGIN; the outcome must not depend on it
            assert not any(c.done() for c in calls), "a call ran while the write lock was held"
            blocker.execute("COMMIT")
            results = [c.result(timeout=WAIT_SECONDS) for c in calls]
    finally:
        blocker.close()
    assert_one_answer_one_row(results, shops[0])
