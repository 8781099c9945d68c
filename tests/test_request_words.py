"""What a customer reads of a tool call: the reason recorded is theirs (not their whole
message), and a call in progress is described in words, never as a tool name or JSON."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agent.model.brain import Profile, classify
from agent.tools import TOOLS, registry
from agent.tools.intents import Request, reason_in


@pytest.mark.parametrize(("message", "reason"), [
    ("Please refund ORD-1001, the boots leak", "the boots leak"),
    ("I want to cancel ORD-1003 because I ordered the wrong size", "I ordered the wrong size"),
    ("refund ORD-1001", ""),
    ("Refund ORD-1001.", ""),
    ("refund $20 on ORD-1001", ""),
    ("Cancel ORD-1003 since I found it cheaper elsewhere", "I found it cheaper elsewhere"),
    ("Cancel ORD-1003 as I no longer need it", "I no longer need it"),
    ("Refund ORD-1001 due to a broken sole", "a broken sole"),
    ("refund ORD-1001 because of water damage", "water damage"),
    ("cancel ORD-1003 as soon as possible", ""),  # "as" that gives no reason
    ("Please refund $20 on ORD-1001 - the zip broke", "the zip broke"),
    ("Refund ORD-1001 \u2014 wrong colour, sorry", "wrong colour"),
    ("My boots leak: please refund ORD-1001", "My boots leak"),
    ("The boots leak, please refund ORD-1001, thank you", "The boots leak"),
    ("Can you refund ORD-1001? They fell apart after a week.", "They fell apart after a week"),
    ("Hi, please refund ORD-1001. The boots leak after an hour, and the sole came off! Thanks",
     "The boots leak after an hour, and the sole came off"),
    ("refund ORD-1001\nthe boots leak\n", "the boots leak"),
    ("The left boot leaks. Please refund $20 on ORD-1001. The right one is fine",
     "The left boot leaks; The right one is fine"),
    # The order number never becomes the reason, even where no clean cut exists.
    ("Because the boots leak I want a refund on ORD-1001", ""),
    ("Please change the address of ORD-1003 to 5 Elm St", ""),
])
def test_the_reason_is_the_customers_reason(message: str, reason: str) -> None:
    """Because/since/as/due to, or a clause that is not the request itself; "" if none."""
    assert reason_in(message) == reason
    assert Request(message).reason == reason


def test_the_reason_is_at_most_500_characters() -> None:
    """What the tools accept (and the ledger stores) for a reason."""
    assert len(reason_in("Refund ORD-1001, " + "it leaks " * 100)) == 500


@pytest.mark.parametrize(("message", "tool", "reason"), [
    ("Please refund ORD-1001, the boots leak", "issue_refund", "the boots leak"),
    ("refund $20 on ORD-1001", "issue_refund", ""),
    ("I want to cancel ORD-1003 because I ordered the wrong size", "cancel_order",
     "I ordered the wrong size"),
])
def test_the_offline_model_passes_the_reason_to_the_tool(message: str, tool: str,
                                                         reason: str) -> None:
    """The tool call carries the customer's reason, not their whole message."""
    intent = classify(message, Profile())
    assert intent.tool == tool and intent.args["reason"] == reason


def test_policy_questions_and_tickets_keep_the_whole_message() -> None:
    """A policy search looks for everything the customer asked; a ticket quotes it all."""
    question = "What is your return policy, since my boots leak?"
    assert classify(question, Profile()).args == {"query": question}
    complaint = "I want to open a ticket, my tent is broken because a pole snapped"
    assert classify(complaint, Profile()).args["details"] == complaint


# --- progress -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "arguments", "words"), [
    ("list_orders", {}, "Looking up your orders"),
    ("get_order_status", {"order_id": "ORD-1002"}, "Checking order ORD-1002"),
    ("get_order_status", {"order_id": " ord-1002"}, "Checking order ORD-1002"),
    ("search_policy", {"query": "returns?"}, "Checking our policy"),
    ("open_ticket", {"subject": "Boots", "details": "leak"}, "Opening a ticket for our team"),
    ("issue_refund", {"order_id": "ORD-1001", "amount": 20}, "Preparing a refund of $20.00 on "
                                                               "ORD-1001"),
    ("issue_refund", {"order_id": "ORD-1001"}, "Preparing a refund on ORD-1001"),
    ("cancel_order", {"order_id": "ORD-1003"}, "Preparing to cancel ORD-1003"),
    ("change_shipping_address", {"order_id": "ORD-1003", "new_address": "5 Elm St"},
     "Preparing a new shipping address for ORD-1003"),
])
def test_progress_reads_as_words(name: str, arguments: dict, words: str) -> None:
    """What a customer sees while a tool runs."""
    assert TOOLS[name].progress_words(arguments) == words


ODD_ARGUMENTS: list[Any] = [
    {}, None, [], "ORD-1001", {"order_id": None}, {"order_id": 1001}, {"order_id": ["ORD-1001"]},
    {"order_id": "ORD-1001", "amount": "lots"}, {"order_id": "ORD-1001", "amount": float("nan")},
    {"order_id": "ORD-1001", "amount": -5}, {"order_id": "ORD-1001", "amount": True},
    {"order_id": '{"x": 1} DROP TABLE', "amount": {"a": 1}},
]


@pytest.mark.parametrize("name", sorted(registry.names()))
def test_every_tool_has_progress_words_that_never_fail(name: str) -> None:
    """Every registered tool says what it does in words of its own: no tool name, no JSON,
    no order number it was not really given, whatever the arguments."""
    tool = TOOLS[name]
    assert tool.progress is not None, f"{name} has no progress= wording"
    for arguments in ODD_ARGUMENTS:
        words = tool.progress_words(arguments)
        assert words and words[0].isupper(), (arguments, words)
        assert name not in words and "_" not in words
        assert not re.search(r"[{}\[\]\"]|DROP|nan|lots|-5|True", words), (arguments, words)
