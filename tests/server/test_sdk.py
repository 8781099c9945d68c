"""The graph on LangGraph Server, driven with `langgraph_sdk` as any LangGraph user would.

One `langgraph dev` serves the repository's langgraph.json (graph "support", auth
agent/auth.py) on a fresh SQLite shop. Each customer asks for a refund of their own order; a
supervisor approves, edits or rejects it; what the server's runs did is checked in the shop's
ledger and audit trail. Around that: tokens, thread ownership, the supervisor's view, the
store, and tokens streaming in pieces.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from langgraph_sdk.errors import NotFoundError, PermissionDeniedError
from sdk_server import PROBE, LangGraphServer

from agent.domain.audit import AuditLog

pytestmark = pytest.mark.langgraph_server

GRAPH = "support"


def said(text: str) -> dict[str, Any]:
    """A run's input: one customer message."""
    return {"messages": [{"role": "user", "content": text}]}


def ids(threads: list[dict[str, Any]]) -> set[str]:
    """The ids of listed threads."""
    return {thread["thread_id"] for thread in threads}


def last_reply(state: dict[str, Any]) -> str:
    """The text of the newest assistant message in a thread state."""
    replies = [m for m in state["values"]["messages"] if m["type"] == "ai" and m["content"]]
    assert replies, state["values"]["messages"]
    return replies[-1]["content"]


def status_of(refused: pytest.ExceptionInfo) -> int:
    """The HTTP status of a refused SDK call (`runs.wait` raises httpx's own error)."""
    return refused.value.response.status_code


def ask_for_refund(server: LangGraphServer, customer: str, text: str, order_id: str) -> str:
    """`customer` asks for a refund on a thread of their own; the run stops at the approval."""
    client = server.client(customer)
    thread = client.threads.create()
    thread_id = thread["thread_id"]
    client.runs.wait(thread_id, GRAPH, input=said(text))
    state = client.threads.get_state(thread_id)
    assert state["next"] == ["approval"], state
    assert client.threads.get(thread_id)["status"] == "interrupted"
    request = json.dumps(state["interrupts"])
    assert "issue_refund" in request and order_id in request, request
    assert server.desk.shop.ledger(order_id=order_id) == []  # nothing moved yet
    return thread_id


def decide(server: LangGraphServer, thread_id: str, decision: dict[str, Any]) -> dict[str, Any]:
    """Supervisor sam finds the request among his tenant's waiting threads and resumes it;
    the thread's state as he then reads it (what his decision did)."""
    sam = server.client("sam")
    assert thread_id in ids(sam.threads.search(status="interrupted", limit=100))
    assert sam.threads.get_state(thread_id)["next"] == ["approval"]
    sam.runs.wait(thread_id, GRAPH, command={"resume": decision})
    assert thread_id not in ids(sam.threads.search(status="interrupted", limit=100))
    return sam.threads.get_state(thread_id)


def only_decision(state: dict[str, Any]) -> dict[str, Any]:
    """The one decision recorded in a thread's state."""
    [decision] = state["values"]["decisions"].values()
    return decision


def test_langgraph_json_serves_the_support_graph(server: LangGraphServer):
    """The shipped langgraph.json loads: the server lists the graph "support" and draws it
    (what Studio shows) from the graph factory, approval step included."""
    alice = server.client("alice")
    [assistant] = alice.assistants.search(graph_id=GRAPH)
    drawn = alice.assistants.get_graph(assistant["assistant_id"])
    assert {"agent", "screen", "approval", "actions"} <= {node["id"] for node in drawn["nodes"]}


@pytest.mark.parametrize(("authorization", "status", "words"), [
    (None, 401, "Bearer"),
    ("Bearer sat_not-a-token-anyone-was-given", 401, "unknown or revoked"),
    ("Basic YWxpY2U6YWxpY2U=", 401, "Bearer"),
    ("disabled", 403, "is disabled"),
])
def test_every_request_needs_the_token_of_an_enabled_account(server: LangGraphServer,
                                                            authorization, status, words):
    """No token, an unknown one, another scheme or a disabled account: refused, saying why."""
    if authorization == "disabled":
        authorization = f"Bearer {server.tokens['frank']}"  # disabled after it got the token
    headers = {"Authorization": authorization} if authorization else {}
    answer = httpx.post(f"{server.url}/threads/search", json={}, headers=headers, timeout=30)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]


def test_a_refund_approved_by_a_supervisor_of_the_tenant(server: LangGraphServer):
    """Alice's refund waits, seen by nobody but her and her tenant's supervisor; sam approves
    it, and the decision is recorded as his whatever `decided_by` claimed."""
    alice, bob, gina = (server.client(who) for who in ("alice", "bob", "gina"))
    thread = alice.threads.create(metadata={"owner": "bob", "tenant": "globex"})
    assert thread["metadata"]["owner"] == "alice" and thread["metadata"]["tenant"] == "acme"
    thread_id = thread["thread_id"]
    # She claims to be bob: the server's auth says who she is.
    alice.runs.wait(thread_id, GRAPH, input=said("Please refund ORD-1001, the boots leak"),
                    context={"user_id": "bob", "tenant": "acme"})
    state = alice.threads.get_state(thread_id)
    assert state["next"] == ["approval"]
    assert state["values"]["customer"]["user_id"] == "alice"
    assert "ORD-1001" in json.dumps(state["interrupts"])

    # Another customer, or another tenant's supervisor: no such thread.
    for client in (bob, gina):
        with pytest.raises(NotFoundError):
            client.threads.get(thread_id)
        with pytest.raises(NotFoundError):
            client.threads.get_state(thread_id)
        with pytest.raises(NotFoundError):
            client.threads.get_history(thread_id)
    assert thread_id not in ids(bob.threads.search(limit=100))
    assert thread_id not in ids(gina.threads.search(status="interrupted", limit=100))
    with pytest.raises(httpx.HTTPStatusError) as refused:
        bob.runs.wait(thread_id, GRAPH, input=said("Refund it to me instead"))
    assert status_of(refused) == 404
    with pytest.raises(httpx.HTTPStatusError) as refused:
        gina.runs.wait(thread_id, GRAPH, command={"resume": {"action": "approve"}})
    assert status_of(refused) == 404
    # A customer never answers an approval, not even her own.
    with pytest.raises(httpx.HTTPStatusError) as refused:
        alice.runs.wait(thread_id, GRAPH, command={"resume": {"action": "approve"}})
    assert status_of(refused) == 403
    assert server.desk.shop.ledger(order_id="ORD-1001") == []

    final = decide(server, thread_id, {"action": "approve", "decided_by": "mallory"})
    assert "Refunded $129.00" in last_reply(final)
    assert only_decision(final)["by"] == "sam"
    [refund] = server.desk.shop.ledger(order_id="ORD-1001")
    assert (refund.customer_id, refund.amount_cents, refund.thread_id) == ("alice", 12900,
                                                                            thread_id)
    [entry] = [e for e in AuditLog(server.desk.persistence.db).entries("acme")
               if e.thread_id == thread_id]
    assert (entry.actor_id, entry.action, entry.customer_id) == ("sam", "approve", "alice")

    assert alice.threads.get_state(thread_id)["values"] == final["values"]

    # The story in checkpoints: it stopped before the approval, then finished.
    history = alice.threads.get_history(thread_id, limit=100)
    assert history[0]["next"] == []
    assert any(checkpoint["next"] == ["approval"] for checkpoint in history)

    # Once alice writes again, the thread is hers alone once more.
    alice.runs.wait(thread_id, GRAPH, input=said("Thank you!"))
    with pytest.raises(NotFoundError):
        server.client("sam").threads.get(thread_id)


def test_a_refund_edited_to_twenty_dollars(server: LangGraphServer):
    """Sam changes the amount of bob's refund: $20.00 moves, and bob is told it changed."""
    thread_id = ask_for_refund(server, "bob", "Please refund ORD-1101, the strap broke",
                               "ORD-1101")
    final = decide(server, thread_id, {"action": "edit", "arguments": {"amount": 20}})
    assert "$20.00" in last_reply(final)
    decision = only_decision(final)
    assert (decision["action"], decision["by"], decision["after"]["amount"]) == ("edit", "sam",
                                                                                 20)
    [refund] = server.desk.shop.ledger(order_id="ORD-1101")
    assert (refund.customer_id, refund.amount_cents) == ("bob", 2000)


def test_a_refund_rejected_with_a_reason(server: LangGraphServer):
    """Sam rejects carol's refund with a reason: no money moves, and she reads why."""
    thread_id = ask_for_refund(server, "carol", "Please refund ORD-1201, the bottles leak",
                               "ORD-1201")
    final = decide(server, thread_id, {"action": "reject",
                                       "reason": "Opened bottles are final sale"})
    assert "final sale" in last_reply(final)
    decision = only_decision(final)
    assert (decision["action"], decision["by"]) == ("reject", "sam")
    assert server.desk.shop.ledger(order_id="ORD-1201") == []


def test_an_agent_inbox_answer_is_recorded_as_the_supervisors(server: LangGraphServer):
    """Gina accepts dave's refund in Agent Inbox's format: recorded as hers, whoever it names."""
    dave, gina = server.client("dave"), server.client("gina")
    thread_id = dave.threads.create()["thread_id"]
    dave.runs.wait(thread_id, GRAPH, input=said("Please refund ORD-2001, the headphones hiss"))
    assert thread_id in ids(gina.threads.search(status="interrupted", limit=100))
    gina.runs.wait(thread_id, GRAPH, command={"resume": [{"type": "accept", "args": None,
                                                          "decided_by": "sam"}]})
    final = dave.threads.get_state(thread_id)
    assert "Refunded $199.00" in last_reply(final)
    assert only_decision(final)["by"] == "gina"
    [refund] = server.desk.shop.ledger(order_id="ORD-2001")
    assert (refund.customer_id, refund.tenant, refund.amount_cents) == ("dave", "globex", 19900)


def test_a_node_reads_who_the_run_acts_for_from_its_config(server: LangGraphServer):
    """`acting_identity` and `acting_supervisor` (agent/auth.py), as a node on the server sees
    them: the signed-in customer, whatever context the client claimed; after sam resumes, the
    thread's customer still, and sam as the one who decided."""
    alice, sam = server.client("alice"), server.client("sam")
    thread_id = alice.threads.create()["thread_id"]
    alice.runs.wait(thread_id, PROBE, input={}, context={"user_id": "bob", "tenant": "globex"})
    assert alice.threads.get(thread_id)["status"] == "interrupted"
    sam.runs.wait(thread_id, PROBE, command={"resume": "go on"})
    alice_sees = {"customer": {"user_id": "alice", "tenant": "acme"}, "supervisor": None}
    sam_sees = {"customer": {"user_id": "alice", "tenant": "acme"}, "supervisor": "sam"}
    assert alice.threads.get_state(thread_id)["values"]["seen"] == [alice_sees, sam_sees]


def test_a_supervisor_lists_only_the_threads_waiting_in_their_tenant(server: LangGraphServer):
    """Sam sees acme's waiting threads only, must ask for them by status, and starts none."""
    waiting = ask_for_refund(server, "alice", "Please refund ORD-1002, the zip broke", "ORD-1002")
    alice = server.client("alice")
    idle = alice.threads.create()["thread_id"]
    alice.runs.wait(idle, GRAPH, input=said("Where is ORD-1003?"))
    dave = server.client("dave")  # globex
    elsewhere = dave.threads.create()["thread_id"]
    dave.runs.wait(elsewhere, GRAPH, input=said("Where is my order?"))

    sam = server.client("sam")
    listed = ids(sam.threads.search(status="interrupted", limit=100))
    assert waiting in listed and not {idle, elsewhere} & listed
    with pytest.raises(PermissionDeniedError):
        sam.threads.search()
    with pytest.raises(NotFoundError):
        sam.threads.get_state(idle)
    with pytest.raises(PermissionDeniedError):
        sam.threads.create()
    with pytest.raises(httpx.HTTPStatusError) as refused:  # resuming only, never a message
        sam.runs.wait(waiting, GRAPH, input=said("Hello from sam"))
    assert status_of(refused) == 403
    assert sam.threads.get_state(waiting)["next"] == ["approval"]  # left waiting


def test_customers_list_and_change_only_their_own_threads(server: LangGraphServer):
    """Bob's thread list holds only his; he cannot give a thread away or touch alice's."""
    alice, bob = server.client("alice"), server.client("bob")
    hers = alice.threads.create()["thread_id"]
    his = bob.threads.create()["thread_id"]
    assert his in ids(bob.threads.search(limit=100))
    assert all(t["metadata"]["owner"] == "bob" for t in bob.threads.search(limit=100))
    with pytest.raises(NotFoundError):
        bob.threads.update(hers, metadata={"note": "mine now"})
    with pytest.raises(PermissionDeniedError):
        bob.threads.update(his, metadata={"owner": "alice"})
    with pytest.raises(NotFoundError):
        bob.threads.delete(hers)
    assert alice.threads.get(hers)["metadata"]["owner"] == "alice"


def test_the_store_holds_each_customers_memory_apart(server: LangGraphServer):
    """A customer reaches only their own memory namespace; a supervisor only reads."""
    bob, sam = server.client("bob"), server.client("sam")
    bob.store.put_item(["customers", "acme", "bob"], "profile", {"name": "Bob"})
    assert bob.store.get_item(["customers", "acme", "bob"], "profile")["value"] == {"name": "Bob"}
    with pytest.raises(PermissionDeniedError):
        bob.store.get_item(["customers", "acme", "alice"], "profile")
    with pytest.raises(PermissionDeniedError):
        bob.store.search_items(["customers"])
    assert sam.store.get_item(["customers", "acme", "bob"], "profile")["value"] == {
        "name": "Bob"}
    with pytest.raises(PermissionDeniedError):
        sam.store.put_item(["customers", "acme", "bob"], "profile", {"name": "Robert"})
    with pytest.raises(PermissionDeniedError):
        sam.store.get_item(["customers", "globex", "dave"], "profile")


def test_the_reply_streams_in_pieces(server: LangGraphServer):
    """`stream_mode="messages-tuple"`: the assistant's reply arrives token by token, and the
    pieces add up to the reply the thread keeps."""
    bob = server.client("bob")
    thread_id = bob.threads.create()["thread_id"]
    pieces: dict[str, list[str]] = {}
    for part in bob.runs.stream(thread_id, GRAPH, input=said("Where is ORD-1102?"),
                                stream_mode="messages-tuple"):
        if part.event != "messages":
            continue
        chunk, _metadata = part.data
        if chunk["type"] == "AIMessageChunk" and chunk["content"]:
            pieces.setdefault(chunk["id"], []).append(chunk["content"])
    reply = last_reply(bob.threads.get_state(thread_id))
    assert "ORD-1102" in reply
    streamed = ["".join(parts) for parts in pieces.values() if len(parts) > 1]
    assert reply in streamed, (reply, pieces)
