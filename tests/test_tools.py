"""The support tools as the model sees and calls them: schemas, argument validation, the text
they answer with, and scoping to the thread's customer."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pydantic import ValidationError

from agent.domain.shop import Customer, Shop, ShopRuleError
from agent.persistence.savers import open_persistence
from agent.settings import Settings
from agent.tools import TOOLS, ToolContext, registry

SAFE_TOOL_NAMES = registry.safe_names()
SENSITIVE_TOOL_NAMES = registry.sensitive_names()

ALICE = Customer("acme", "alice")


@pytest.fixture
def shop(make_settings: Callable[..., Settings]) -> Iterator[Shop]:
    """A shop on the memory saver: tool behaviour does not depend on the saver kind."""
    persistence = open_persistence(make_settings("memory"))
    try:
        yield Shop(persistence.db)
    finally:
        persistence.close()


def context(shop: Shop, customer: Customer = ALICE, *, call: str = "call-1") -> ToolContext:
    """A tool context for one tool call in thread 'thread-1'."""
    return ToolContext(shop, customer, "thread-1", call)


def error_fields(error: ValidationError) -> set[str]:
    """The argument names a validation error complains about."""
    return {".".join(str(part) for part in item["loc"]) for item in error.errors()}


# --- schemas ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_every_tool_has_a_function_spec(name: str) -> None:
    """Each spec is an OpenAI function with a name, a description and an object schema."""
    spec = TOOLS[name].spec()
    assert spec["type"] == "function"
    function = spec["function"]
    assert function["name"] == name
    assert function["description"].strip()
    parameters = function["parameters"]
    assert parameters["type"] == "object"
    assert isinstance(parameters.get("properties", {}), dict)
    # Unknown arguments are rejected, and the schema tells the model so.
    assert parameters.get("additionalProperties") is False
    # Titles are noise for the model; the spec strips them.
    assert "title" not in parameters
    for prop in parameters.get("properties", {}).values():
        assert "title" not in prop and prop.get("description")


def test_specs_mark_required_arguments() -> None:
    """The arguments a tool cannot run without are listed as required."""
    required = {name: set(tool.spec()["function"]["parameters"].get("required", []))
                for name, tool in TOOLS.items()}
    assert required["list_orders"] == set()
    assert required["get_order_status"] == {"order_id"}
    assert required["issue_refund"] == {"order_id"}  # amount omitted = refund what is left
    assert required["change_shipping_address"] == {"order_id", "new_address"}
    assert required["open_ticket"] == {"subject", "details"}
    # Who the tool acts for is never an argument the model could set.
    for tool in TOOLS.values():
        properties = tool.spec()["function"]["parameters"].get("properties", {})
        assert not {"customer", "user_id", "tenant"} & set(properties)


def test_safe_and_sensitive_split_matches_the_registry() -> None:
    """TOOLS holds exactly the registry's tools; money and address changes are sensitive."""
    assert tuple(TOOLS) == registry.names()
    assert set(SAFE_TOOL_NAMES).isdisjoint(SENSITIVE_TOOL_NAMES)
    assert set(SAFE_TOOL_NAMES) | set(SENSITIVE_TOOL_NAMES) == set(TOOLS)
    assert set(SENSITIVE_TOOL_NAMES) == {"issue_refund", "cancel_order",
                                         "change_shipping_address"}
    assert set(SAFE_TOOL_NAMES) == {"list_orders", "get_order_status", "search_policy",
                                    "open_ticket", "ask_for_person"}


# --- argument validation --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "arguments", "field"), [
    ("issue_refund", {"order_id": "ORD-1001", "amount": -5}, "amount"),
    ("issue_refund", {"order_id": "ORD-1001", "amount": 0}, "amount"),
    ("issue_refund", {"order_id": "ORD-1001", "amount": "lots"}, "amount"),
    ("issue_refund", {"amount": 5}, "order_id"),
    ("issue_refund", {"order_id": "ORD-1001", "customer": "bob"}, "customer"),
    ("get_order_status", {}, "order_id"),
    ("get_order_status", {"order_id": ""}, "order_id"),
    ("get_order_status", {"order_id": "ORD-1001", "user_id": "bob"}, "user_id"),
    ("list_orders", {"tenant": "globex"}, "tenant"),
    ("cancel_order", {"order_id": "ORD-1003", "reason": "x" * 501}, "reason"),
    ("change_shipping_address", {"order_id": "ORD-1003"}, "new_address"),
    ("change_shipping_address", {"order_id": "ORD-1003", "new_address": ""}, "new_address"),
    ("search_policy", {"query": ""}, "query"),
    ("open_ticket", {"details": "help"}, "subject"),
])
def test_bad_arguments_raise_validation_error_naming_the_field(
        shop: Shop, name: str, arguments: dict, field: str) -> None:
    """tool.run rejects bad arguments before the handler runs, naming the offending field."""
    with pytest.raises(ValidationError) as bad:
        TOOLS[name].run(context(shop), arguments)
    assert field in error_fields(bad.value)
    # Nothing happened: validation comes before any side effect.
    assert shop.ledger() == [] and shop.tickets(ALICE) == []
    assert shop.get_order(ALICE, "ORD-1003").status == "processing"


# --- what the tools answer ------------------------------------------------------------------------


def test_list_orders_shows_alices_orders(shop: Shop) -> None:
    """One line per order with id, date, items, total and status, newest first."""
    text = TOOLS["list_orders"].run(context(shop), {})
    lines = text.splitlines()
    assert [line.split(" ")[0] for line in lines] == ["ORD-1003", "ORD-1002", "ORD-1001"]
    assert lines[0] == ("ORD-1003 (2026-11-18): Two-person tent, 2 x Aluminium tent stakes, "
                        "$240.00, processing")
    assert "Packable rain jacket" in lines[1] and "$54.50" in lines[1] and "shipped" in lines[1]
    assert "Trail hiking boots" in lines[2] and "$129.00" in lines[2] and "delivered" in lines[2]
    # Nobody else's orders leak into the list.
    assert "ORD-1101" not in text and "ORD-2001" not in text


def test_list_orders_for_a_customer_without_orders(shop: Shop) -> None:
    """A customer with no orders is told so instead of getting an empty answer."""
    assert TOOLS["list_orders"].run(context(shop, Customer("acme", "sam")), {}) == (
        "You have no orders yet.")


def test_get_order_status_shows_tracking_and_address(shop: Shop) -> None:
    """A shipped order's status names carrier, tracking number and address."""
    text = TOOLS["get_order_status"].run(context(shop), {"order_id": "ord-1002"})
    for fact in ("ORD-1002", "Packable rain jacket", "$54.50", "shipped", "UPS",
                 "1Z999AA10123456791", "12 Elm Street, Springfield"):
        assert fact in text
    assert "Refunded" not in text


def test_get_order_status_of_processing_order_has_no_tracking(shop: Shop) -> None:
    """An order that has not shipped has no carrier or tracking number to show."""
    text = TOOLS["get_order_status"].run(context(shop), {"order_id": "ORD-1003"})
    assert "processing" in text and "tracking" not in text


def test_get_order_status_shows_refunds_so_far(shop: Shop) -> None:
    """After a refund the status reports how much was refunded."""
    TOOLS["issue_refund"].run(context(shop), {"order_id": "ORD-1001", "amount": 20})
    text = TOOLS["get_order_status"].run(context(shop, call="call-2"), {"order_id": "ORD-1001"})
    assert "Refunded so far: $20.00." in text


def test_get_order_status_of_someone_elses_order_is_refused(shop: Shop) -> None:
    """Alice asking about Bob's order gets a rule error that reveals nothing about it."""
    with pytest.raises(ShopRuleError) as refused:
        TOOLS["get_order_status"].run(context(shop), {"order_id": "ORD-1101"})
    assert "bob" not in str(refused.value).lower() and "daypack" not in str(refused.value)


def test_search_policy_finds_the_refund_rules(shop: Shop) -> None:
    """A refund question finds the returns entry with its facts."""
    text = TOOLS["search_policy"].run(context(shop), {"query": "How do I return boots for a "
                                                               "refund?"})
    assert text.startswith("Returns and refunds:")
    assert "30 days" in text and "3-5 business days" in text


def test_search_policy_without_a_match(shop: Shop) -> None:
    """A question no entry shares a word with says nothing matched."""
    assert TOOLS["search_policy"].run(context(shop), {"query": "xyzzy"}) == (
        "No policy entry matches that question.")


# --- side effects through tools -------------------------------------------------------------------


def test_tool_call_id_is_the_idempotency_key(shop: Shop) -> None:
    """Replaying one tool call refunds once; a new tool call refunds again."""
    arguments = {"order_id": "ORD-1001", "amount": 10, "reason": "scuffed"}
    first = TOOLS["issue_refund"].run(context(shop, call="call-1"), arguments)
    assert TOOLS["issue_refund"].run(context(shop, call="call-1"), arguments) == first
    TOOLS["issue_refund"].run(context(shop, call="call-2"), arguments)
    entries = shop.ledger()
    assert [entry.idempotency_key for entry in entries] == ["thread-1:call-1", "thread-1:call-2"]
    assert {entry.thread_id for entry in entries} == {"thread-1"}
    assert entries[0].details == {"reason": "scuffed"}
    assert shop.get_order(ALICE, "ORD-1001").refunded_cents == 2000


def test_sensitive_tools_act_for_the_context_customer_only(shop: Shop) -> None:
    """A tool can only touch the orders of the customer in its context."""
    bob = Customer("acme", "bob")
    for name, arguments in [
        ("issue_refund", {"order_id": "ORD-1001"}),
        ("cancel_order", {"order_id": "ORD-1003"}),
        ("change_shipping_address", {"order_id": "ORD-1003", "new_address": "1 Bob Lane"}),
    ]:
        with pytest.raises(ShopRuleError, match="no order"):
            TOOLS[name].run(context(shop, bob), arguments)
    assert shop.ledger() == []


def test_open_ticket_tool_opens_once_per_call(shop: Shop) -> None:
    """The ticket tool opens one ticket per tool call id."""
    arguments = {"subject": "Boots leak", "details": "Water gets in after an hour."}
    first = TOOLS["open_ticket"].run(context(shop), arguments)
    assert TOOLS["open_ticket"].run(context(shop), arguments) == first
    [ticket] = shop.tickets(ALICE)
    assert ticket["subject"] == "Boots leak" and ticket["thread_id"] == "thread-1"
