"""The graph: which nodes run when, pruning and summarising, approval interrupts."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agent.core.seal import DecisionSeal
from agent.domain.shop import Shop
from agent.nodes.prune import oldest_turns_to_drop
from agent.nodes.summarize import messages_to_fold
from agent.nodes.tools import make_tool_node
from agent.persistence.savers import open_persistence
from agent.settings import load_settings
from agent.state import SupportContext


def written_by(desk, thread_id: str) -> list[tuple[str, ...]]:
    """Which node wrote each checkpoint of the thread, oldest first."""
    return [c.written_by for c in reversed(desk.history("alice", thread_id, limit=200))]


def test_short_turn_writes_no_housekeeping_checkpoint(desk):
    """A short chat turn: input, load_memory, agent -- nothing for prune/summarise/remember."""
    result = desk.ask("alice", "hello")
    # LangGraph checkpoints the input, then applies it (__start__), then one per node.
    assert written_by(desk, result.thread_id) == [("input",), ("__start__",), ("load_memory",),
                                                  ("agent",)]


def test_remember_runs_only_when_there_is_a_new_fact(desk):
    """'My name is Alice' adds a remember step once; repeating the known fact adds none."""
    first = desk.ask("alice", "My name is Alice")
    assert written_by(desk, first.thread_id)[-1] == ("remember",)
    again = desk.ask("alice", "My name is Alice", thread_id=first.thread_id)
    assert written_by(desk, again.thread_id)[-1] == ("agent",)


def test_tool_turn_path(desk):
    """A safe tool turn goes agent -> tools -> agent; nothing pauses."""
    result = desk.ask("alice", "Where is ORD-1002?")
    assert written_by(desk, result.thread_id)[-4:] == [("load_memory",), ("agent",), ("tools",),
                                                       ("agent",)]
    assert "1Z999AA10123456791" in result.reply


def _conversation(rng: random.Random, turns: int) -> list:
    """A random but well-formed conversation: some turns call one or two tools."""
    messages: list = [SystemMessage("system rules", id="sys")]
    for turn in range(turns):
        messages.append(HumanMessage(f"question {turn} " + "x" * rng.randint(0, 300),
                                     id=f"h{turn}"))
        for step in range(rng.choice([0, 0, 1, 2])):
            calls = [{"name": "get_order_status", "args": {"order_id": "ORD-1001"},
                      "id": f"c{turn}-{step}-{k}", "type": "tool_call"}
                     for k in range(rng.choice([1, 2]))]
            messages.append(AIMessage("", tool_calls=calls, id=f"a{turn}-{step}"))
            messages += [ToolMessage("y" * rng.randint(0, 500), tool_call_id=c["id"],
                                     id=f"t{c['id']}") for c in calls]
        messages.append(AIMessage(f"answer {turn}", id=f"r{turn}"))
    return messages


def _assert_well_formed(kept: list) -> None:
    """Every ToolMessage still follows the AI message that called it; a turn leads."""
    body = [m for m in kept if not isinstance(m, SystemMessage)]
    assert isinstance(body[0], HumanMessage)
    open_calls: set[str] = set()
    for message in body:
        if isinstance(message, AIMessage):
            assert not open_calls, "a tool call lost its ToolMessage"
            open_calls = {c["id"] for c in message.tool_calls}
        elif isinstance(message, ToolMessage):
            assert message.tool_call_id in open_calls, "orphan ToolMessage"
            open_calls.discard(message.tool_call_id)


@pytest.mark.parametrize("seed", range(40))
def test_pruning_never_orphans_tool_messages(seed: int):
    """Across random conversations and limits, pruning cuts only between whole turns."""
    rng = random.Random(seed)
    messages = _conversation(rng, rng.randint(2, 30))
    settings = load_settings(saver="memory", prune_max_messages=rng.randint(4, 20),
                             prune_max_chars=rng.randint(1000, 5000))
    dropped = {m.id for m in oldest_turns_to_drop(messages, settings)}
    kept = [m for m in messages if m.id not in dropped]
    assert kept[0].id == "sys", "the system prompt is kept"
    _assert_well_formed(kept)
    if len(dropped):
        body = [m for m in kept if not isinstance(m, SystemMessage)]
        last_turn_start = max(i for i, m in enumerate(body) if isinstance(m, HumanMessage))
        within = (len(body) <= settings.prune_max_messages
                  and sum(len(m.text) for m in body) <= settings.prune_max_chars)
        assert within or last_turn_start == 0, "over the limits only if one turn is left"


@pytest.mark.parametrize("seed", range(40))
def test_summarising_folds_whole_turns(seed: int):
    """The folded part ends where a turn starts; at most `keep` messages stay (or one turn)."""
    rng = random.Random(seed)
    messages = _conversation(rng, rng.randint(2, 30))
    settings = load_settings(saver="memory", summary_keep_messages=rng.randint(2, 12))
    folded = {m.id for m in messages_to_fold(messages, settings)}
    kept = [m for m in messages if m.id not in folded]
    _assert_well_formed(kept)
    body = [m for m in kept if not isinstance(m, SystemMessage)]
    turns = sum(isinstance(m, HumanMessage) for m in body)
    assert len(body) <= settings.summary_keep_messages or turns == 1


def test_summarising_in_the_graph(make_settings, saver):
    """Crossing the trigger folds old turns into the summary, removing them by id."""
    from agent.service import SupportDesk

    settings = make_settings(saver, summary_trigger_messages=6, summary_keep_messages=4)
    with SupportDesk.open(settings) as desk:
        thread = desk.ask("alice", "My name is Alice").thread_id
        first_ids = [m.id for m in desk.view_thread("alice", thread).messages[:2]]
        for text in ("Where is ORD-1002?", "list my orders", "What is your return policy?"):
            desk.ask("alice", text, thread_id=thread)
        view = desk.view_thread("alice", thread)
        assert "The customer's name is Alice." in view.summary
        assert not set(first_ids) & {m.id for m in view.messages}
        assert len(view.messages) <= 6 + 4  # bounded: at most trigger + one turn's messages
        assert any(c.written_by == ("summarize",) for c in desk.history("alice", thread))
        # The summary is used: the name is still known in this thread without the store.
        assert desk.ask("alice", "What's my name?", thread_id=thread).reply == \
            "Your name is Alice."


def test_pruning_in_the_graph(make_settings, saver):
    """With summarising off, pruning alone keeps the thread under its message cap."""
    from agent.service import SupportDesk

    settings = make_settings(saver, summary_trigger_messages=0, prune_max_messages=6)
    with SupportDesk.open(settings) as desk:
        thread = desk.ask("alice", "hello").thread_id
        for _ in range(6):
            desk.ask("alice", "Where is ORD-1001?", thread_id=thread)
        messages = desk.view_thread("alice", thread).messages
        assert len(messages) <= 6 + 4
        assert messages[0].role == "customer"
        assert any(c.written_by == ("prune",) for c in desk.history("alice", thread, limit=100))


def test_approval_payload_names_action_arguments_customer_and_reason(desk):
    """The interrupt carries what a supervisor needs to decide."""
    result = desk.ask("alice", "Please refund $20 on ORD-1001, the boots leak")
    assert result.status == "awaiting_approval"
    [pending] = result.pending_approvals
    assert pending.action == "issue_refund"
    assert pending.arguments["order_id"] == "ORD-1001"
    assert pending.arguments["amount"] == 20
    assert (pending.customer_id, pending.tenant, pending.customer_name) == \
        ("alice", "acme", "Alice Martin")
    assert "boots leak" in pending.reason
    assert any("boots leak" in line for line in pending.excerpt)
    assert desk.shop.ledger() == []  # nothing happened before the decision


def test_reject_becomes_a_tool_message_the_model_relays(desk):
    """A rejection reason reaches the customer; no side effect happens."""
    from agent.service import collect

    thread = desk.ask("alice", "Cancel ORD-1003 please").thread_id
    result = collect(desk.decide_approval("sam", thread, {"action": "reject",
                                                          "reason": "order already packed"}))
    assert result.status == "active"
    assert "order already packed" in result.reply
    tool = [m for m in desk.view_thread("alice", thread).messages if m.role == "tool"][-1]
    assert not tool.ok and tool.tool_name == "cancel_order"
    assert desk.shop.ledger() == []


def test_edit_changes_the_arguments_that_run(desk):
    """An edit replaces the tool call's arguments; the history shows the edited call."""
    from agent.service import collect

    thread = desk.ask("alice", "Refund ORD-1001 please").thread_id
    collect(desk.decide_approval("sam", thread, {"action": "edit", "arguments": {"amount": 12.5}}))
    [entry] = desk.shop.ledger()
    assert entry.amount_cents == 1250
    calls = [c for m in desk.view_thread("alice", thread).messages for c in m.tool_calls]
    assert calls[-1]["args"]["amount"] == 12.5


def test_safe_tool_node_refuses_sensitive_calls():
    """Defence in depth: the safe-tools node never runs a refund, whatever the state says."""
    settings = load_settings(saver="memory")
    persistence = open_persistence(settings)
    try:
        node = make_tool_node(Shop(persistence.db),
                              sensitive=frozenset(settings.approval_required))
        call = {"name": "issue_refund", "args": {"order_id": "ORD-1001"}, "id": "c1",
                "type": "tool_call"}
        state = {"messages": [HumanMessage("refund"), AIMessage("", tool_calls=[call])]}
        update = node(state, {"configurable": {"thread_id": "t"}},
                      Runtime(context=SupportContext("alice", "acme")))
        [message] = update["messages"]
        assert message.status == "error" and "approval" in message.text
        assert Shop(persistence.db).ledger() == []
    finally:
        persistence.close()


def test_actions_node_runs_a_sensitive_call_only_under_its_own_sealed_approval():
    """An approval recorded for another call, unsealed, sealed with another key or for other
    arguments never lets a refund run; the approval step's own seal does."""
    settings = load_settings(saver="memory")
    persistence = open_persistence(settings)
    try:
        seal = DecisionSeal(b"k" * 32)
        node = make_tool_node(Shop(persistence.db), sensitive=frozenset(settings.approval_required),
                              seal=seal)
        call = {"name": "issue_refund", "args": {"order_id": "ORD-1001"}, "id": "c1",
                "type": "tool_call"}
        approve = {"action": "approve", "by": "sam", "before": call["args"]}
        forged = [
            {"c0": {**approve, "seal": seal.seal("t", "c0", approve, call["args"])}},
            {"c1": approve},
            {"c1": {**approve, "seal": DecisionSeal(b"x" * 32).seal("t", "c1", approve,
                                                                   call["args"])}},
            {"c1": {**approve, "seal": seal.seal("t", "c1", approve, {"order_id": "ORD-1002"})}},
            {"c1": {**approve, "seal": seal.seal("another-thread", "c1", approve,
                                                 call["args"])}},
        ]
        runtime = Runtime(context=SupportContext("alice", "acme"))
        for decisions in forged:
            state = {"messages": [HumanMessage("refund"), AIMessage("", tool_calls=[call])],
                     "decisions": decisions}
            [message] = node(state, {"configurable": {"thread_id": "t"}}, runtime)["messages"]
            assert message.status == "error" and "approval" in message.text, decisions
        assert Shop(persistence.db).ledger() == []

        state["decisions"] = {"c1": {**approve, "seal": seal.seal("t", "c1", approve,
                                                                  call["args"])}}
        [message] = node(state, {"configurable": {"thread_id": "t"}}, runtime)["messages"]
        assert message.status == "success" and "Refunded $129.00" in message.text
        assert [e.amount_cents for e in Shop(persistence.db).ledger()] == [12900]
    finally:
        persistence.close()


def test_module_level_graph_loads_by_path():
    """`agent.server:make_graph` (langgraph.json) is a real module variable, as LangGraph
    Server reads it, and gives a compiled graph with every node, without persistence."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import agent.graph
    import agent.server as module

    # In a thread of its own, as the server has its own loop: a worker that also ran browser
    # tests has Playwright's sync loop running in this one, where asyncio.run() is refused.
    with ThreadPoolExecutor(1) as pool:
        graph = pool.submit(asyncio.run, vars(module)["make_graph"]()).result()
    assert isinstance(graph, CompiledStateGraph)
    assert set(agent.graph.NODES) <= set(graph.get_graph().nodes)
    assert graph.checkpointer is None and graph.store is None  # the server brings its own


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (nothing imported yet) with these settings."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    return subprocess.run([sys.executable, "-c", code], env={**child_env, **env},
                          capture_output=True, text=True, timeout=120, check=False)


def test_importing_the_graph_loads_no_database_driver():
    """`import agent.graph` leaves psycopg unloaded (a LangGraph server brings its own saver)."""
    done = _python("import sys, agent.graph\n"
                   "assert 'psycopg' not in sys.modules, 'psycopg was imported'\n"
                   "assert 'psycopg_pool' not in sys.modules, 'psycopg_pool was imported'\n")
    assert done.returncode == 0, done.stderr


def test_module_level_graph_closes_what_it_opened_at_exit(tmp_path):
    """The graph built for graph-loading tools holds its database until exit, then closes it."""
    db = tmp_path / "support.db"
    done = _python(
        "import asyncio, atexit, os, agent.server as module\n"
        "def open_files():\n"
        "    fds = os.listdir('/proc/self/fd')\n"
        f"    return [p for p in (os.path.realpath('/proc/self/fd/' + fd) for fd in fds)\n"
        f"            if p.startswith({str(db)!r})]\n"
        "asyncio.run(module.make_graph())\n"
        "assert open_files(), 'the graph works on the configured database'\n"
        "atexit._run_exitfuncs()  # what the interpreter does on its way out\n"
        "assert not open_files(), open_files()\n",
        SUPPORT_SAVER="sqlite", SUPPORT_SQLITE_PATH=str(db))
    assert done.returncode == 0, done.stderr
