"""Deterministic seed data: two tenants, their customers and supervisors, and their orders."""

from __future__ import annotations

import json
from dataclasses import dataclass

from agent.persistence.db import Session


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
              "UPS", "1Z999AA10123456784", "12 Elm Street, Springfield", "2026-10-02"),
    SeedOrder("ORD-1002", "alice", (("JKT-RAIN", "Packable rain jacket", 1, 5450),), "shipped",
              "UPS", "1Z999AA10123456791", "12 Elm Street, Springfield", "2026-11-12"),
    SeedOrder("ORD-1003", "alice", (("TENT-2P", "Two-person tent", 1, 21000),
                                    ("STAKE-AL", "Aluminium tent stakes", 2, 1500)),
              "processing", None, None, "12 Elm Street, Springfield", "2026-11-18"),
    SeedOrder("ORD-1101", "bob", (("PACK-30", "30 L daypack", 1, 8900),), "delivered",
              "FedEx", "771234567890", "4 Harbour Road, Shelbyville", "2026-09-21"),
    SeedOrder("ORD-1102", "bob", (("SOCK-3", "Merino socks, 3 pairs", 2, 2400),), "processing",
              None, None, "4 Harbour Road, Shelbyville", "2026-11-17"),
    SeedOrder("ORD-1201", "carol", (("BOTTLE-1L", "Insulated bottle 1 L", 2, 3200),), "shipped",
              "USPS", "9400111899223334445566", "77 Lake View, Capital City", "2026-11-10"),
    SeedOrder("ORD-2001", "dave", (("HDP-X1", "Noise-cancelling headphones", 1, 19900),),
              "delivered", "DHL", "JD014600003828375522", "9 Mill Lane, Ogdenville", "2026-10-15"),
    SeedOrder("ORD-2002", "dave", (("CBL-USB-C", "USB-C cable 2 m", 3, 1299),), "processing",
              None, None, "9 Mill Lane, Ogdenville", "2026-11-19"),
    SeedOrder("ORD-2101", "erin", (("KBD-MX", "Mechanical keyboard", 1, 11900),), "shipped",
              "DHL", "JD014600003828375599", "31 Oak Avenue, North Haverbrook", "2026-11-08"),
    SeedOrder("ORD-2102", "erin", (("MSE-WL", "Wireless mouse", 1, 4900),), "cancelled",
              None, None, "31 Oak Avenue, North Haverbrook", "2026-10-30"),
)

_CURRENCY = "USD"


def seed_shop(session: Session) -> None:
    """Insert the seed users and orders (a no-op for rows that already exist)."""
    tenant_of = {user.user_id: user.tenant for user in USERS}
    for user in USERS:
        session.execute(
            "INSERT INTO support_users (user_id, tenant, display_name, email, role)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO NOTHING",
            (user.user_id, user.tenant, user.display_name, user.email, user.role),
        )
    for order in ORDERS:
        items = [
            {"sku": sku, "name": name, "qty": qty, "price_cents": price}
            for sku, name, qty, price in order.items
        ]
        session.execute(
            "INSERT INTO support_orders (order_id, tenant, customer_id, items, amount_cents,"
            " currency, status, carrier, tracking_number, shipping_address, placed_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (order_id) DO NOTHING",
            (order.order_id, tenant_of[order.customer_id], order.customer_id, json.dumps(items),
             order.amount_cents, _CURRENCY, order.status, order.carrier, order.tracking_number,
             order.shipping_address, order.placed_at),
        )
