"""The demo shop: two tenants, their customers and supervisors, and their orders.

Demo data, not schema: a migration never applies it. It is added on request
(`support-agent seed --demo`) or on the first start of a new database when SUPPORT_SEED_DEMO
is on (the default for the embedded SQLite file and the memory saver).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from agent.core.db import Session


@dataclass(frozen=True)
class SeedUser:
    user_id: str
    tenant: str
    display_name: str
    email: str
    role: str  # "customer" or "supervisor"


@dataclass(frozen=True)
class SeedOrder:
    order_id: str
    customer_id: str
    items: tuple[tuple[str, str, int, int], ...]  # (sku, name, qty, unit price in cents)
    status: str  # processing | shipped | delivered | cancelled
    carrier: str | None
    tracking_number: str | None
    shipping_address: str
    placed_at: str  # ISO date
    delivered_at: str | None = None  # ISO date, for delivered orders

    @property
    def amount_cents(self) -> int:
        return sum(qty * price for _, _, qty, price in self.items)


TENANTS = {"acme": "Acme Outfitters", "globex": "Globex Electronics"}

USERS: tuple[SeedUser, ...] = (
    SeedUser("alice", "acme", "Alice Martin", "alice@example.com", "customer"),
    SeedUser("bob", "acme", "Bob Chen", "bob@example.com", "customer"),
    SeedUser("carol", "acme", "Carol Diaz", "carol@example.com", "customer"),
    SeedUser("dave", "globex", "Dave Okafor", "dave@example.com", "customer"),
    SeedUser("erin", "globex", "Erin Walsh", "erin@example.com", "customer"),
    SeedUser("sam", "acme", "Sam Rivera", "sam@acme.example.com", "supervisor"),
    SeedUser("gina", "globex", "Gina Novak", "gina@globex.example.com", "supervisor"),
)

ORDERS: tuple[SeedOrder, ...] = (
    SeedOrder("ORD-1001", "alice", (("BOOT-42", "Trail hiking boots", 1, 12900),), "delivered",
              "UPS", "1Z999AA10123456784", "12 Elm Street, Springfield", "2026-10-02",
              "2026-10-06"),
    SeedOrder("ORD-1002", "alice", (("JKT-RAIN", "Packable rain jacket", 1, 5450),), "shipped",
              "UPS", "1Z999AA10123456791", "12 Elm Street, Springfield", "2026-11-12"),
    SeedOrder("ORD-1003", "alice", (("TENT-2P", "Two-person tent", 1, 21000),
                                    ("STAKE-AL", "Aluminium tent stakes", 2, 1500)),
              "processing", None, None, "12 Elm Street, Springfield", "2026-11-18"),
    SeedOrder("ORD-1101", "bob", (("PACK-30", "30 L daypack", 1, 8900),), "delivered",
              "FedEx", "771234567890", "4 Harbour Road, Shelbyville", "2026-09-21",
              "2026-09-24"),
    SeedOrder("ORD-1102", "bob", (("SOCK-3", "Merino socks, 3 pairs", 2, 2400),), "processing",
              None, None, "4 Harbour Road, Shelbyville", "2026-11-17"),
    SeedOrder("ORD-1201", "carol", (("BOTTLE-1L", "Insulated bottle 1 L", 2, 3200),), "shipped",
              "USPS", "9400111899223334445566", "77 Lake View, Capital City", "2026-11-10"),
    SeedOrder("ORD-2001", "dave", (("HDP-X1", "Noise-cancelling headphones", 1, 19900),),
              "delivered", "DHL", "JD014600003828375522", "9 Mill Lane, Ogdenville", "2026-10-15",
              "2026-10-20"),
    SeedOrder("ORD-2002", "dave", (("CBL-USB-C", "USB-C cable 2 m", 3, 1299),), "processing",
              None, None, "9 Mill Lane, Ogdenville", "2026-11-19"),
    SeedOrder("ORD-2101", "erin", (("KBD-MX", "Mechanical keyboard", 1, 11900),), "shipped",
              "DHL", "JD014600003828375599", "31 Oak Avenue, North Haverbrook", "2026-11-08"),
    SeedOrder("ORD-2102", "erin", (("MSE-WL", "Wireless mouse", 1, 4900),), "cancelled",
              None, None, "31 Oak Avenue, North Haverbrook", "2026-10-30"),
)

_CURRENCY = "USD"


@dataclass(frozen=True)
class SeedReport:
    """What one seeding added, and which demo users it left out because their id is taken."""

    users_added: tuple[str, ...]
    orders_added: tuple[str, ...]
    users_skipped: tuple[str, ...]


def seed_demo_shop(session: Session) -> SeedReport:
    """Add whatever of the demo users and orders is missing (idempotent); report what."""
    tenant_of = {user.user_id: user.tenant for user in USERS}
    added, skipped, present = [], [], set()
    for user in USERS:
        if session.execute(
            "INSERT INTO support_users (user_id, tenant, display_name, email, role)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (user.user_id, user.tenant, user.display_name, user.email, user.role),
        ):
            added.append(user.user_id)
            present.add(user.user_id)
            continue
        row = session.fetch_one("SELECT tenant, email FROM support_users WHERE user_id = ?",
                                (user.user_id,))
        # The demo user from an earlier seeding (perhaps since renamed, disabled or promoted)
        # gets its missing orders; a real account holding the id or e-mail gets none of them.
        if row and row["tenant"] == user.tenant and row["email"].lower() == user.email.lower():
            present.add(user.user_id)
        else:
            skipped.append(user.user_id)
    orders = []
    for order in ORDERS:
        if order.customer_id not in present:
            continue
        items = [
            {"sku": sku, "name": name, "qty": qty, "price_cents": price}
            for sku, name, qty, price in order.items
        ]
        if session.execute(
            "INSERT INTO support_orders (order_id, tenant, customer_id, items, amount_cents,"
            " currency, status, carrier, tracking_number, shipping_address, placed_at,"
            " delivered_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING",
            (order.order_id, tenant_of[order.customer_id], order.customer_id, json.dumps(items),
             order.amount_cents, _CURRENCY, order.status, order.carrier, order.tracking_number,
             order.shipping_address, order.placed_at, order.delivered_at),
        ):
            orders.append(order.order_id)
        elif order.delivered_at:
            # Seeded before orders had a delivery date (migration 5): give the demo order its
            # date, if it is still that demo order, delivered and undated. Not reported as added.
            session.execute(
                "UPDATE support_orders SET delivered_at = ? WHERE order_id = ? AND tenant = ?"
                " AND customer_id = ? AND placed_at = ? AND status = 'delivered'"
                " AND delivered_at IS NULL",
                (order.delivered_at, order.order_id, tenant_of[order.customer_id],
                 order.customer_id, order.placed_at),
            )
    return SeedReport(tuple(added), tuple(orders), tuple(skipped))
