"""The shop: users, orders, the refund/cancellation ledger and tickets, in the app database.

Every operation is scoped to one customer (tenant + user id): a customer can only see and
change their own orders. Side effects run exactly once per idempotency key: the ledger row
and the change it records commit in one transaction, and a repeat call returns the first
call's answer.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from agent.core.db import Database, Row, Session
from agent.domain.audit import AuditLog, AuditRecord
from agent.domain.rules import (
    MAX_ADDRESS_CHARS as MAX_ADDRESS_CHARS,  # re-exported: where callers have always found it
)
from agent.domain.rules import (
    address_refusal,
    cancel_refusal,
    money,
    refund_refusal,
    refundable_cents,
    tidy_address,
)
from agent.domain.users import User, UserDirectory


class ShopRuleError(Exception):
    """A request the shop refuses (unknown order, too large a refund...); the model relays it."""


@dataclass(frozen=True)
class Customer:
    """Whose orders a tool may touch: always the thread's owner, never the caller's choice."""

    tenant: str
    user_id: str


@dataclass(frozen=True)
class Order:
    order_id: str
    tenant: str
    customer_id: str
    items: list[dict[str, Any]]
    amount_cents: int
    currency: str
    status: str
    carrier: str | None
    tracking_number: str | None
    shipping_address: str
    placed_at: str
    refunded_cents: int
    delivered_at: str | None = None  # ISO date; None until delivered (or not recorded)

    @property
    def description(self) -> str:
        return ", ".join(
            item["name"] if item["qty"] == 1 else f"{item['qty']} x {item['name']}"
            for item in self.items
        )


@dataclass(frozen=True)
class LedgerEntry:
    entry_id: int
    idempotency_key: str
    tenant: str
    customer_id: str
    order_id: str
    kind: str
    amount_cents: int
    details: dict[str, Any]
    result: str
    thread_id: str | None
    created_at: float


def to_cents(amount: float | str | None) -> int | None:
    """Dollars (as the model writes them) to whole cents; None stays None."""
    if amount is None:
        return None
    try:
        value = Decimal(str(amount))
        if not value.is_finite():
            raise InvalidOperation
        value = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise ShopRuleError(f"{amount!r} is not an amount of money") from None
    return int(value * 100)


_ORDER_SQL = (
    "SELECT o.order_id, o.tenant, o.customer_id, o.items, o.amount_cents, o.currency, o.status,"
    " o.carrier, o.tracking_number, o.shipping_address, o.placed_at, o.delivered_at,"
    " COALESCE((SELECT SUM(l.amount_cents) FROM support_ledger l WHERE l.order_id = o.order_id"
    "   AND l.kind IN ('refund', 'cancellation')), 0) AS refunded_cents"
    " FROM support_orders o"
)


def _order(row: Row) -> Order:
    return Order(**{**row, "items": json.loads(row["items"]),
                    "refunded_cents": int(row["refunded_cents"])})


class Shop:
    """Queries and side effects on the shop tables."""

    def __init__(self, db: Database):
        self.db = db
        self._lock_rows = " FOR UPDATE" if db.dialect == "postgres" else ""

    # --- people -------------------------------------------------------------------------

    def get_user(self, user_id: str) -> User | None:
        """The user record (role and tenant come from here, never from the caller)."""
        return UserDirectory(self.db).get(user_id)

    def get_user_by_email(self, email: str) -> User | None:
        """The user with this e-mail address (how a signed-in OIDC identity is matched)."""
        return UserDirectory(self.db).by_email(email)

    def list_users(self) -> list[User]:
        """Every user (disabled ones too), by tenant then role then id."""
        return UserDirectory(self.db).all()

    # --- reading orders -----------------------------------------------------------------

    def list_orders(self, customer: Customer) -> list[Order]:
        """The customer's orders, newest first."""
        rows = self.db.fetch_all(
            f"{_ORDER_SQL} WHERE o.tenant = ? AND o.customer_id = ? ORDER BY o.placed_at DESC",
            (customer.tenant, customer.user_id),
        )
        return [_order(row) for row in rows]

    def get_order(self, customer: Customer, order_id: str) -> Order:
        """One of the customer's orders; someone else's order is reported as unknown."""
        return self._owned_order(self.db, customer, order_id)

    def _owned_order(self, session: Session, customer: Customer, order_id: str,
                     *, lock: bool = False) -> Order:
        order_id = order_id.strip().upper()
        owner = (order_id, customer.tenant, customer.user_id)
        if lock and self._lock_rows:
            # Lock in its own statement, then read: under READ COMMITTED a statement that waited
            # for the lock still sees its pre-wait snapshot, so a refund committed meanwhile by
            # the lock holder would be missed and the order over-refunded.
            session.execute("SELECT 1 FROM support_orders WHERE order_id = ? AND tenant = ?"
                            f" AND customer_id = ?{self._lock_rows}", owner)
        row = session.fetch_one(
            f"{_ORDER_SQL} WHERE o.order_id = ? AND o.tenant = ? AND o.customer_id = ?", owner
        )
        if row is None:
            raise ShopRuleError(
                f"There is no order {order_id} on your account. Say 'list my orders' to see them."
            )
        return _order(row)

    def ledger(self, *, tenant: str | None = None,
               order_id: str | None = None) -> list[LedgerEntry]:
        """Ledger entries, oldest first, optionally for one tenant or order."""
        where, params = [], []
        if tenant:
            where.append("tenant = ?")
            params.append(tenant)
        if order_id:
            where.append("order_id = ?")
            params.append(order_id)
        rows = self.db.fetch_all(
            "SELECT entry_id, idempotency_key, tenant, customer_id, order_id, kind, amount_cents,"
            " details, result, thread_id, created_at FROM support_ledger"
            + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY entry_id",
            params,
        )
        return [LedgerEntry(**{**row, "details": json.loads(row["details"])}) for row in rows]

    def tickets(self, customer: Customer) -> list[Row]:
        """The customer's tickets, oldest first."""
        return self.db.fetch_all(
            "SELECT ticket_id, subject, details, status, thread_id, created_at FROM support_tickets"
            " WHERE tenant = ? AND customer_id = ? ORDER BY created_at, ticket_id",
            (customer.tenant, customer.user_id),
        )

    # --- side effects, exactly once per key --------------------------------------------------

    def issue_refund(self, customer: Customer, order_id: str, amount: float | None,
                     reason: str, *, key: str, thread_id: str | None = None,
                     audit: AuditRecord | None = None) -> str:
        """Refund part or all of a shipped or delivered order."""
        def apply(session: Session) -> str:
            order = self._locked_order(session, customer, order_id, key)
            asked = to_cents(amount)
            refused = refund_refusal(order, asked)
            if refused:
                raise ShopRuleError(refused)
            cents = refundable_cents(order) if asked is None else asked
            return self._record(session, customer, order, "refund", cents,
                                {"reason": reason}, key, thread_id, audit, lambda ref: (
                f"Refunded {money(cents)} on {order.order_id} (reference {ref}). It reaches the "
                "original payment method in 3-5 business days."))
        return self._once(key, apply)

    def cancel_order(self, customer: Customer, order_id: str, reason: str, *, key: str,
                     thread_id: str | None = None, audit: AuditRecord | None = None) -> str:
        """Cancel an order that has not shipped, refunding what was paid."""
        def apply(session: Session) -> str:
            order = self._locked_order(session, customer, order_id, key)
            refused = cancel_refusal(order)
            if refused:
                raise ShopRuleError(refused)
            session.execute(
                "UPDATE support_orders SET status = 'cancelled', updated_at = ? WHERE order_id = ?",
                (time.time(), order.order_id),
            )
            cents = refundable_cents(order)
            return self._record(session, customer, order, "cancellation", cents,
                                {"reason": reason}, key, thread_id, audit, lambda ref: (
                f"Cancelled {order.order_id} (reference {ref}); {money(cents)} goes back to the "
                "original payment method."))
        return self._once(key, apply)

    def change_shipping_address(self, customer: Customer, order_id: str, new_address: str, *,
                                key: str, thread_id: str | None = None,
                                audit: AuditRecord | None = None) -> str:
        """Send a processing order to a different address."""
        address = tidy_address(new_address)

        def apply(session: Session) -> str:
            order = self._locked_order(session, customer, order_id, key)
            refused = address_refusal(order, address)
            if refused:
                raise ShopRuleError(refused)
            session.execute(
                "UPDATE support_orders SET shipping_address = ?, updated_at = ? WHERE order_id = ?",
                (address, time.time(), order.order_id),
            )
            return self._record(session, customer, order, "address_change", 0,
                                {"old": order.shipping_address, "new": address}, key,
                                thread_id, audit,
                                lambda ref: f"{order.order_id} will now ship to {address} "
                                            f"(reference {ref}).")
        return self._once(key, apply)

    def open_ticket(self, customer: Customer, subject: str, details: str, *, key: str,
                    thread_id: str | None = None) -> str:
        """Open a ticket for the support team (once per key)."""
        subject = " ".join(subject.split())[:120] or "Support request"
        # 64 bits of the key's hash: a clash between two different keys is out of reach.
        ticket_id = "TCK-" + hashlib.sha256(key.encode()).hexdigest()[:16].upper()
        result = (f"Opened ticket {ticket_id}: {subject}. The support team replies within one "
                  "business day.")
        with self.db.transaction() as session:
            inserted = session.execute(
                "INSERT INTO support_tickets (ticket_id, idempotency_key, tenant, customer_id,"
                " subject, details, status, result, thread_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?) ON CONFLICT DO NOTHING",
                (ticket_id, key, customer.tenant, customer.user_id, subject, details[:4000],
                 result, thread_id, time.time()),
            )
        if not inserted:
            # The same key won (here or in a racing transaction): answer as it did.
            row = self.db.fetch_one(
                "SELECT result FROM support_tickets WHERE idempotency_key = ?", (key,)
            )
            if row is None:
                raise ShopRuleError("Could not open the ticket; please try again.")
            return row["result"]
        return result

    def _once(self, key: str, apply: Callable[[Session], str]) -> str:
        try:
            with self.db.transaction() as session:
                done = _recorded(session, key)  # the common repeat, answered without locking
                if done is not None:
                    return done
                return apply(session)
        except _AlreadyRecorded:
            # A concurrent call with the same key committed first: answer as it did.
            done = _recorded(self.db, key)
            assert done is not None
            return done

    def _locked_order(self, session: Session, customer: Customer, order_id: str,
                      key: str) -> Order:
        """The order with its row locked; _AlreadyRecorded if `key` was recorded meanwhile."""
        order = self._owned_order(session, customer, order_id, lock=True)
        # Checked again under the row lock (on SQLite, the write transaction): a call with the
        # same key that got the lock first has changed the order, and its answer is this
        # call's too - not a verdict on the order it changed ("refunded in full already").
        if _recorded(session, key) is not None:
            raise _AlreadyRecorded
        return order

    def _record(self, session: Session, customer: Customer, order: Order, kind: str,
                cents: int, details: dict[str, Any], key: str, thread_id: str | None,
                audit: AuditRecord | None, describe: Callable[[str], str]) -> str:
        result = describe(reference(key))
        inserted = session.execute(
            "INSERT INTO support_ledger (idempotency_key, tenant, customer_id, order_id, kind,"
            " amount_cents, details, result, thread_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
            (key, customer.tenant, customer.user_id, order.order_id, kind, cents,
             json.dumps(details), result, thread_id, time.time()),
        )
        if not inserted:
            raise _AlreadyRecorded
        if audit is not None:
            # The supervisor's decision and the change it allowed commit together, or neither.
            AuditLog(self.db).record(replace(audit, outcome=result, ok=True), session=session)
        return result


class _AlreadyRecorded(Exception):
    """Rolls back a side effect whose key another transaction recorded meanwhile."""


def _recorded(session: Session, key: str) -> str | None:
    """The answer already recorded in the ledger for an idempotency key, if any."""
    row = session.fetch_one("SELECT result FROM support_ledger WHERE idempotency_key = ?",
                            (key,))
    return row["result"] if row else None


def reference(key: str) -> str:
    """The customer-facing reference of a side effect: stable for its idempotency key."""
    return "REF-" + hashlib.sha256(key.encode()).hexdigest()[:8].upper()
