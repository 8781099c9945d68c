"""What a tool is here: everything the app needs to know about it, declared in one place.

A tool module builds one `SupportTool` and registers it (`agent.tools.registry`): its name,
argument schema and handler, whether a supervisor must approve it, a label for people, how a
pending request is described to a supervisor, whether the order can take it now, and how the
offline model recognises a request for it. Settings, the graph, the offline model, the CLI and
the UI all read the registry, so adding a tool is one new module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from agent.domain.shop import Customer, Order, Shop, ShopRuleError, money
from agent.tools.intents import Intent, Request


@dataclass(frozen=True)
class ToolContext:
    """Who a tool acts for and how to make its side effect idempotent."""

    shop: Shop
    customer: Customer
    thread_id: str
    tool_call_id: str

    @property
    def idempotency_key(self) -> str:
        """Stable across replays of the same tool call in the same thread."""
        return f"{self.thread_id}:{self.tool_call_id}"


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad field, e.g. "amount: Input should be greater than 0"."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'arguments'}: {e['msg']}"
        for e in error.errors()
    )


def _as_is(text: str) -> str:
    return text


def _no_note(request: Request, args: dict[str, Any]) -> str | None:
    return None


@dataclass(frozen=True)
class OfflineHints:
    """How the offline model recognises a request for a tool and words what it answered.

    Recognisers are tried by ascending `priority` (the first that answers wins), so a
    specific request ("refund ORD-1001") is seen before a general one ("ORD-1001").
    """

    priority: int
    recognise: Callable[[Request], Intent | None]
    word_result: Callable[[str], str] = _as_is
    note_request: Callable[[Request, dict[str, Any]], str | None] = _no_note
    # A summary keeps what the tool answered (it changed something: a refund, a ticket).
    remember_result: bool = False


def order_summary(order: Order) -> str:
    """'ORD-1001 (Trail hiking boots, $129.00, delivered)': what a supervisor checks first."""
    return f"{order.order_id} ({order.description}, {money(order.amount_cents)}, {order.status})"


@dataclass(frozen=True)
class SupportTool:
    """A tool: name, schema and handler for the model, plus how people and the app see it."""

    name: str
    description: str
    args: type[BaseModel]
    handler: Callable[[ToolContext, Any], str]
    sensitive: bool = False  # the default set of tools a supervisor approves
    label: str = ""  # for people ("Refund"); the name when empty
    # The pending request in one line, given its arguments and the order they name (if any).
    describe: Callable[[dict[str, Any], Order | None], str] | None = None
    # Why the order cannot take this request now, or None when it can.
    eligibility: Callable[[Order, dict[str, Any]], str | None] | None = None
    offline: OfflineHints | None = None
    # What a call does, in a customer's words ("Checking order ORD-1002"), given its arguments.
    progress: Callable[[dict[str, Any]], str] | None = None

    @property
    def title(self) -> str:
        """The label people see."""
        return self.label or self.name

    def progress_words(self, arguments: dict[str, Any]) -> str:
        """What a call with these arguments does, for a customer watching it happen."""
        if self.progress is not None:
            return self.progress(arguments)
        return f"{self.title}"

    def refusal(self, shop: Shop, customer: Customer, arguments: dict[str, Any]) -> str | None:
        """Why this request can never succeed as asked (told to the customer), or None."""
        return self.describe_request(shop, customer, arguments)[1] or None

    def describe_request(self, shop: Shop, customer: Customer,
                         arguments: dict[str, Any]) -> tuple[str, str]:
        """(one-line description, why it cannot go ahead now or "") for a supervisor."""
        order = None
        problem = ""
        order_id = arguments.get("order_id")
        if isinstance(order_id, str) and order_id.strip():
            try:
                order = shop.get_order(customer, order_id)
            except ShopRuleError as exc:
                problem = str(exc)
        if order is not None and self.eligibility is not None:
            problem = self.eligibility(order, arguments) or ""
        if self.describe is not None:
            summary = self.describe(arguments, order)
        elif order is not None:
            summary = f"{self.title} on {order_summary(order)}"
        else:
            summary = self.title
        return summary, problem

    def spec(self) -> dict[str, Any]:
        """The OpenAI function-calling schema the model is given."""
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description,
                         "parameters": schema},
        }

    def run(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        """Validate the arguments (pydantic raises on bad ones) and run the handler."""
        return self.handler(context, self.args.model_validate(arguments))
