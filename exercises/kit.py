"""What a learner's solution may use: the offline model, a small shop, and the grader's recorders.

Everything here runs offline and deterministically, so a solution behaves the same on every
machine and the grader can tell exactly what the learner's graph did.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool, tool

from agent.model.offline import OfflineSupportModel
from agent.nodes.summarize import render_transcript
from agent.prompts import SUMMARY_PROMPT
from agent.prompts import SYSTEM_PROMPT as _PROJECT_PROMPT

SYSTEM_PROMPT = _PROJECT_PROMPT

# The exercises' shop: one customer's orders (amounts in dollars).
ORDERS: dict[str, dict[str, Any]] = {
    "ORD-1001": {"item": "Trail boots", "amount": 120.0, "status": "delivered"},
    "ORD-1002": {"item": "Rain jacket", "amount": 80.0, "status": "shipped"},
    "ORD-1003": {"item": "Wool socks (3 pairs)", "amount": 24.0, "status": "processing"},
}

POLICY = ("Items can be returned within 30 days of delivery for a full refund. Refunds go back "
          "to the original payment method within 3-5 business days. Standard shipping takes "
          "3-7 business days.")


def offline_model() -> BaseChatModel:
    """The project's deterministic chat model: tool calls, replies and summaries, no network."""
    return OfflineSupportModel()


@tool
def list_orders() -> str:
    """List the customer's orders with their status."""
    return "\n".join(f"{order_id}: {o['item']}, ${o['amount']:.2f}, {o['status']}"
                     for order_id, o in ORDERS.items())


@tool
def get_order_status(order_id: str) -> str:
    """Look up the status of one order, e.g. ORD-1001."""
    order = ORDERS.get(order_id.strip().upper())
    if order is None:
        return f"There is no order {order_id}."
    return f"{order_id} ({order['item']}, ${order['amount']:.2f}) is {order['status']}."


@tool
def search_policy(query: str) -> str:
    """Search the shop's returns, refunds and shipping policy."""
    return POLICY


def shop_tools() -> list[BaseTool]:
    """The read-only tools: list orders, order status, policy search."""
    return [list_orders, get_order_status, search_policy]


# The refund tool's schema, for `model.bind_tools`: the offline model asks for it by name.
REFUND_TOOL_SPEC: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "issue_refund",
        "description": "Refund part or all of an order.",
        "parameters": {
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "description": "e.g. ORD-1001"},
                "amount": {"type": "number", "description": "dollars; omit for the full amount"},
                "reason": {"type": "string"},
            },
            "required": ["order_id"],
        },
    },
}


def summarize(previous_summary: str, messages: list[AnyMessage]) -> str:
    """A new summary: `previous_summary` with `messages` folded in (at most 12 bullet points)."""
    transcript = render_transcript(previous_summary, messages)
    reply = offline_model().invoke([SystemMessage(SUMMARY_PROMPT), HumanMessage(transcript)])
    return reply.text.strip()


class Ledger:
    """Where refunds are written: a SQLite file the grader reads. One refund per key."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS refunds (key TEXT PRIMARY KEY, order_id TEXT,"
                       " amount REAL, pid INTEGER, at REAL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def refund(self, order_id: str, amount: float | None = None, *, key: str) -> str:
        """Refund an order once per `key` (use the tool call's id); a repeat returns the first."""
        order = ORDERS.get(str(order_id).strip().upper())
        if order is None:
            return f"There is no order {order_id}."
        value = float(order["amount"] if amount is None else amount)
        if not 0 < value <= order["amount"]:
            return f"A refund of ${value:.2f} is not possible on {order_id}."
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO refunds VALUES (?, ?, ?, ?, ?)",
                       (key, order_id, value, os.getpid(), time.time()))
            done = db.execute("SELECT amount FROM refunds WHERE key = ?", (key,)).fetchone()
        return f"Refunded ${done[0]:.2f} on {order_id}."

    def refunds(self) -> list[dict[str, Any]]:
        """Every refund written, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT key, order_id, amount FROM refunds ORDER BY at").fetchall()
        return [{"key": k, "order_id": o, "amount": a} for k, o, a in rows]


class StepCounter:
    """Counts node runs per process in a file the grader reads, even across a SIGKILL."""

    def __init__(self, path: str | os.PathLike[str], *, delay: float = 0.0) -> None:
        self.path = Path(path)
        self.delay = delay  # the grader slows nodes down so it can kill a run part-way

    def hit(self, node: str) -> None:
        """Record that `node` is running in this process."""
        line = json.dumps({"node": node, "pid": os.getpid()}) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())  # one write of a short line: whole even if killed
        finally:
            os.close(fd)
        if self.delay:
            time.sleep(self.delay)

    def hits(self) -> list[dict[str, Any]]:
        """Every recorded run, oldest first."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
