"""Task 6 checks: a refund waits for a supervisor, who approves, edits or rejects it, once."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from types import ModuleType
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from exercises.grader.checks import Check, CheckContext, CheckFailed, excerpt, require_function
from exercises.grader.learner import LearnerError
from exercises.grader.timeline import timeline
from exercises.kit import ORDERS, Ledger
from exercises.tasks import Task

REFUND = "issue_refund"
COMPLAINTS = {"ORD-1001": "the boots leak", "ORD-1002": "the jacket's zip came off"}
APPROVE = {"action": "approve"}
EDITED_AMOUNT = 20.0
REASONS = ("the photos show the item unused and unworn", "the order is past the return window",
           "a replacement is already on its way", "the item was bought in a final sale")


# ---- scenarios: each runs in a fresh process, builds the learner's graph, drives it once ----

def _graph(learner: ModuleType, paths: dict[str, str]) -> tuple[Any, sqlite3.Connection]:
    """The learner's graph on our SQLite checkpointer and ledger (the caller closes the file)."""
    connection = sqlite3.connect(paths["checkpoints"], check_same_thread=False)
    graph = require_function(learner, "build_agent")(SqliteSaver(connection),
                                                     Ledger(paths["ledger"]))
    if not callable(getattr(graph, "invoke", None)):
        raise LearnerError(f"build_agent() returned {excerpt(graph)}; return the compiled graph "
                           "(builder.compile(checkpointer=checkpointer))")
    if getattr(graph, "checkpointer", None) is None:
        raise LearnerError("build_agent() returned a graph compiled without a checkpointer: "
                           "interrupt() needs one; compile with the checkpointer you are given")
    return graph, connection


def _config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def _request(learner: ModuleType, paths: dict[str, str], thread: str, text: str) -> dict:
    """The customer asks for a refund; what the thread looks like afterwards."""
    graph, connection = _graph(learner, paths)
    with closing(connection):
        graph.invoke({"messages": [HumanMessage(text)]}, _config(thread))
        return _snapshot(graph, thread)


def _resume(learner: ModuleType, paths: dict[str, str], thread: str, decision: dict) -> dict:
    """The supervisor answers with `decision`; what the thread looks like afterwards."""
    graph, connection = _graph(learner, paths)
    with closing(connection):
        graph.invoke(Command(resume=decision), _config(thread))
        return _snapshot(graph, thread)


def _replay(learner: ModuleType, paths: dict[str, str], thread: str) -> dict:
    """Re-run the thread from its newest checkpoint where the refund was still unanswered."""
    graph, connection = _graph(learner, paths)
    with closing(connection):
        target = next((state for state in graph.get_state_history(_config(thread))
                       if state.next and _unanswered_refund(state.values)), None)
        if target is None:
            return {"found": False}
        graph.invoke(None, target.config)
        resumed = 0
        # A well-built graph asks the supervisor again on a replay; they approve again.
        while graph.get_state(_config(thread)).interrupts and resumed < 3:
            graph.invoke(Command(resume=APPROVE), _config(thread))
            resumed += 1
        return {"found": True, "step": (target.metadata or {}).get("step"), "resumed": resumed,
                **_snapshot(graph, thread)}


def _unanswered_refund(values: Any) -> bool:
    messages = values.get("messages", []) if isinstance(values, dict) else []
    answered = {getattr(m, "tool_call_id", None) for m in messages
                if getattr(m, "type", None) == "tool"}
    return any(call["name"] == REFUND and call["id"] not in answered
               for m in messages for call in (getattr(m, "tool_calls", None) or []))


def _snapshot(graph: Any, thread: str) -> dict:
    """The thread's latest state as plain JSON: next nodes, pending interrupts, messages."""
    state = graph.get_state(_config(thread))
    values = state.values if isinstance(state.values, dict) else {}
    return _jsonable({
        "next": list(state.next),
        "interrupts": [item.value for item in state.interrupts],
        "messages": [_message(m) for m in values.get("messages", []) or []],
    })


def _message(message: Any) -> dict:
    return {"type": getattr(message, "type", type(message).__name__),
            "text": getattr(message, "text", str(message)),
            "tool_calls": [{"name": c.get("name"), "args": c.get("args"), "id": c.get("id")}
                           for c in getattr(message, "tool_calls", None) or []],
            "status": getattr(message, "status", None),
            "tool_call_id": getattr(message, "tool_call_id", None)}


def _jsonable(value: Any) -> Any:
    # Whatever the learner put in their payload or state, the grader gets plain JSON back.
    return json.loads(json.dumps(value, default=str))


# ---- helpers for the checks (the orchestrator never runs learner code itself) ----

def _case(context: CheckContext) -> dict[str, Any]:
    """This run's customer: a thread, an order and the message asking for its refund."""
    order = context.rng.choice(sorted(COMPLAINTS))
    return {"thread": f"refund-{context.rng.randrange(10**6):06d}", "order": order,
            "amount": ORDERS[order]["amount"],
            "text": f"Please refund {order}, {COMPLAINTS[order]}.",
            "paths": {"checkpoints": str(context.workdir / "checkpoints.sqlite"),
                      "ledger": str(context.workdir / "ledger.sqlite")}}


def _refunds(case: dict[str, Any]) -> list[dict[str, Any]]:
    return Ledger(case["paths"]["ledger"]).refunds()


def _describe_refunds(refunds: list[dict[str, Any]]) -> str:
    if not refunds:
        return "no refund"
    return ", ".join(f"${r['amount']:.2f} on {r['order_id']}" for r in refunds)


def _history(case: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The learner's checkpoint timeline for this thread, read straight from the file."""
    try:
        with closing(sqlite3.connect(case["paths"]["checkpoints"])) as connection:
            return timeline(SqliteSaver(connection), case["thread"]) or None
    except Exception:  # a learner who ignored our checkpointer leaves nothing readable
        return None


def _paused(context: CheckContext, case: dict[str, Any]) -> dict:
    """Send the refund request; fail unless the thread is now waiting on an interrupt."""
    state = context.scenario(_request, case["paths"], case["thread"], case["text"])
    if not state["interrupts"]:
        raise CheckFailed(
            f"sent {excerpt(case['text'])}; the graph did not pause (no pending interrupt, "
            f"next={state['next']}) and the ledger holds {_describe_refunds(_refunds(case))}, "
            "so there was no refund for the supervisor to decide on",
            timeline=_history(case),
            expected="graph.get_state(config).interrupts holds the issue_refund request")
    return state


def _resumed(context: CheckContext, case: dict[str, Any], decision: dict) -> dict:
    """Resume in a new process; fail if that process cannot see the paused conversation."""
    state = context.scenario(_resume, case["paths"], case["thread"], decision)
    if not any(m["type"] == "human" and m["text"] == case["text"] for m in state["messages"]):
        raise CheckFailed(f"resumed thread {case['thread']!r} from a new process with "
                          f"Command(resume={decision}); its state there does not hold the "
                          f"request {excerpt(case['text'])} (it has {len(state['messages'])} "
                          "messages), so the decision reached no paused refund",
                          expected="a graph compiled with the checkpointer build_agent is given")
    return state


def _last_reply(state: dict) -> dict | None:
    messages = state["messages"]
    return messages[-1] if messages and messages[-1]["type"] == "ai" else None


def _require_finished(state: dict, after: str, case: dict[str, Any]) -> dict:
    """The thread ended with an AI reply to the customer; that reply."""
    reply = _last_reply(state)
    if state["next"] or state["interrupts"]:
        raise CheckFailed(f"{after}, the thread is not finished: next={state['next']}, pending "
                          f"interrupts {excerpt(state['interrupts'])}", timeline=_history(case),
                          expected="no next node and no pending interrupt")
    if reply is None or reply["tool_calls"] or not reply["text"].strip():
        last = state["messages"][-1] if state["messages"] else None
        raise CheckFailed(f"{after}, the thread's last message is "
                          f"{excerpt(last) if last else 'missing'}", timeline=_history(case),
                          expected="an AI reply to the customer (text, no tool calls)")
    return reply


# ---- the checks ----

def check_pauses(context: CheckContext) -> None:
    """The refund request pauses on an interrupt naming issue_refund, before any refund."""
    case = _case(context)
    state = _paused(context, case)
    payload = state["interrupts"][0]
    args = payload.get("args") if isinstance(payload, dict) else None
    if not (isinstance(args, dict) and payload.get("tool") == REFUND
            and args.get("order_id") == case["order"]):
        raise CheckFailed(f"sent {excerpt(case['text'])}; the graph paused with the payload "
                          f"{excerpt(payload)}",
                          expected=f"a dict with 'tool': 'issue_refund' and 'args' holding the "
                                   f"call's arguments ('order_id': '{case['order']}', …)")
    refunds = _refunds(case)
    if refunds:
        raise CheckFailed(f"sent {excerpt(case['text'])}; the graph paused for the supervisor, "
                          f"but the ledger already holds {_describe_refunds(refunds)}: the "
                          "refund ran before anyone approved it", timeline=_history(case),
                          expected="an empty ledger while the graph waits for the decision")


def check_approve(context: CheckContext) -> None:
    """Approve: one refund of the whole order, then a reply to the customer."""
    case = _case(context)
    _paused(context, case)
    state = _resumed(context, case, APPROVE)
    refunds = _refunds(case)
    wanted = f"one refund of ${case['amount']:.2f} on {case['order']}"
    if [(r["order_id"], r["amount"]) for r in refunds] != [(case["order"], case["amount"])]:
        raise CheckFailed(f"asked to refund {case['order']} and resumed with "
                          f"Command(resume={APPROVE}); the ledger holds "
                          f"{_describe_refunds(refunds)}", timeline=_history(case),
                          expected=wanted)
    _require_finished(state, f"after approving the refund of {case['order']}", case)


def check_edit(context: CheckContext) -> None:
    """Edit: the supervisor's amount replaces the model's, and only it is refunded."""
    case = _case(context)
    _paused(context, case)
    decision = {"action": "edit", "args": {"amount": EDITED_AMOUNT}}
    _resumed(context, case, decision)
    refunds = _refunds(case)
    if [(r["order_id"], r["amount"]) for r in refunds] != [(case["order"], EDITED_AMOUNT)]:
        raise CheckFailed(f"asked to refund {case['order']} (${case['amount']:.2f}) and resumed "
                          f"with Command(resume={decision}); the ledger holds "
                          f"{_describe_refunds(refunds)}", timeline=_history(case),
                          expected=f"one refund of ${EDITED_AMOUNT:.2f} on {case['order']}")


def check_reject(context: CheckContext) -> None:
    """Reject: nothing is refunded, and the customer is told the supervisor's reason."""
    case = _case(context)
    reason = f"{context.rng.choice(REASONS)} (case {context.rng.randrange(1000, 10000)})"
    _paused(context, case)
    decision = {"action": "reject", "reason": reason}
    state = _resumed(context, case, decision)
    refunds = _refunds(case)
    if refunds:
        raise CheckFailed(f"resumed with Command(resume={decision}); the ledger holds "
                          f"{_describe_refunds(refunds)}", timeline=_history(case),
                          expected="no refund")
    reply = _require_finished(state, "after rejecting the refund", case)
    answers = [m for m in state["messages"] if m["type"] == "tool"
               and any(c["name"] == REFUND and c["id"] == m["tool_call_id"]
                       for prior in state["messages"] for c in prior["tool_calls"])]
    if not answers or answers[-1]["status"] != "error":
        found = (f"a ToolMessage with status={answers[-1]['status']!r}: "
                 f"{excerpt(answers[-1]['text'])}" if answers else "no ToolMessage")
        raise CheckFailed(f"after rejecting the refund, the issue_refund call was answered with "
                          f"{found}; the agent then told the customer {excerpt(reply['text'])}",
                          expected="a ToolMessage with status='error' that gives the reason")
    if reason not in reply["text"]:
        raise CheckFailed(f"rejected with the reason {reason!r}; the agent told the customer "
                          f"{excerpt(reply['text'])}",
                          expected="a reply that passes on the supervisor's reason")


def check_no_double_refund(context: CheckContext) -> None:
    """An approved refund stays single: resumed twice, or replayed from before it ran."""
    case = _case(context)
    state = context.scenario(_request, case["paths"], case["thread"], case["text"])
    # Only repeat-safety is judged here: a graph that never pauses loses the other checks.
    if state["interrupts"]:
        _resumed(context, case, APPROVE)
    first = _refunds(case)
    if len(first) != 1:
        raise CheckFailed(f"asked to refund {case['order']} and approved it; the ledger holds "
                          f"{_describe_refunds(first)}", timeline=_history(case),
                          expected="exactly one refund to start from")
    # LangGraph 1.2 accepts a resume on a thread with nothing pending: it runs no node and
    # returns the state as it is. So this must simply change nothing.
    context.scenario(_resume, case["paths"], case["thread"], APPROVE)
    refunds = _refunds(case)
    if len(refunds) != 1:
        raise CheckFailed(f"after the approved refund, the supervisor's approval arrived a "
                          f"second time (the same Command(resume=...)); the ledger now holds "
                          f"{_describe_refunds(refunds)}", timeline=_history(case),
                          expected="still exactly one refund")
    replay = context.scenario(_replay, case["paths"], case["thread"])
    if not replay["found"]:
        raise CheckFailed("no checkpoint in the thread's history has the issue_refund call "
                          "still unanswered with a node left to run, so the refund cannot be "
                          "replayed", timeline=_history(case),
                          expected="a checkpoint saved between the model's call and the refund")
    refunds = _refunds(case)
    if len(refunds) != 1:
        keys = ", ".join(repr(r["key"]) for r in refunds)
        raise CheckFailed(f"replayed the thread from step {replay['step']} (the refund still "
                          f"unanswered) and approved again; the same tool call now left "
                          f"{_describe_refunds(refunds)} under the keys {keys}",
                          timeline=_history(case),
                          expected="still exactly one refund: the ledger key must be the tool "
                                   "call's id, which a replay keeps")


TASK = Task(
    number=6, slug="task6_approval", title="Human in the loop: approve, edit, reject a refund",
    minutes=45,
    checks=(
        Check("pauses-before-refund", "a refund request pauses before anything is refunded", 3,
              "route an issue_refund call to its own node that calls interrupt({'tool': "
              "'issue_refund', 'args': call['args']}) before it touches the ledger",
              check_pauses),
        Check("approve-refunds-once", "approve: one full refund, then a reply", 3,
              "interrupt() returns the resume value: on 'approve' call ledger.refund(order_id, "
              "amount, key=call['id']), answer with a ToolMessage and go back to the agent",
              check_approve),
        Check("edit-changes-amount", "edit: the supervisor's amount is refunded", 3,
              "on 'edit', merge decision['args'] over the call's args before refunding; "
              "nothing may be refunded before the decision", check_edit),
        Check("reject-refunds-nothing", "reject: no refund, and the customer hears why", 3,
              "on 'reject', skip the ledger and answer the call with ToolMessage(..., "
              "status='error') that includes decision['reason']", check_reject),
        Check("no-double-refund", "a resumed or replayed refund is paid only once", 4,
              "a node re-runs from its top on resume and on replay: key the ledger with the "
              "tool call's id, never a fresh uuid or a timestamp", check_no_double_refund),
    ),
)
