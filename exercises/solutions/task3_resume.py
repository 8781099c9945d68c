"""Reference solution, task 3: a refund pipeline that resumes after a crash from its checkpoints."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypedDict

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, StateGraph

from exercises.kit import ORDERS, StepCounter


class RefundState(TypedDict, total=False):
    """One refund request as it goes through the pipeline."""

    request: str          # the customer's message, e.g. "Please refund ORD-1001, they leak"
    order_id: str         # read_request: the order it names ("" if none)
    order: dict[str, Any]  # look_up_order: that order from the shop ({} if unknown)
    decision: str         # decide: "refund", "refund-on-return", "cancel" or "reject"
    reply: str            # write_reply: the answer to the customer


# The nodes, in the order they run.
NODE_NAMES = ("read_request", "look_up_order", "decide", "write_reply")


def make_nodes(counter: StepCounter) -> dict[str, Callable[[RefundState], dict[str, Any]]]:
    """The four pipeline nodes by name, in order; each records its run on `counter` first."""

    def read_request(state: RefundState) -> dict[str, Any]:
        counter.hit("read_request")
        found = re.search(r"ORD-\d{4}", state["request"].upper())
        return {"order_id": found.group(0) if found else ""}

    def look_up_order(state: RefundState) -> dict[str, Any]:
        counter.hit("look_up_order")
        return {"order": dict(ORDERS.get(state["order_id"], {}))}

    def decide(state: RefundState) -> dict[str, Any]:
        counter.hit("decide")
        status = state["order"].get("status")
        decision = {"delivered": "refund", "shipped": "refund-on-return",
                    "processing": "cancel"}.get(status, "reject")
        return {"decision": decision}

    def write_reply(state: RefundState) -> dict[str, Any]:
        counter.hit("write_reply")
        order, order_id = state["order"], state["order_id"]
        if state["decision"] == "reject":
            return {"reply": "I couldn't find that order; could you check the order number?"}
        what = f"{order['item']} ({order_id}, ${order['amount']:.2f})"
        reply = {
            "refund": f"Your refund for {what} is on its way: 3-5 business days.",
            "refund-on-return": f"{what} is still in transit; once it is back with us, we "
                                "will refund it in full.",
            "cancel": f"{what} had not shipped yet, so we cancelled it and refunded you.",
        }[state["decision"]]
        return {"reply": reply}

    return {"read_request": read_request, "look_up_order": look_up_order, "decide": decide,
            "write_reply": write_reply}


def build_graph(checkpointer, counter: StepCounter):
    """The compiled pipeline: the four nodes in order, saved by `checkpointer` after each."""
    nodes = make_nodes(counter)
    builder = StateGraph(RefundState)
    builder.add_sequence([(name, nodes[name]) for name in NODE_NAMES])
    builder.add_edge(START, NODE_NAMES[0])
    return builder.compile(checkpointer=checkpointer)


def run(db_path: str, thread_id: str, request: str, counter: StepCounter) -> dict:
    """Run the pipeline from the start on `thread_id`, saved in the SQLite file `db_path`."""
    config = {"configurable": {"thread_id": thread_id}}
    with SqliteSaver.from_conn_string(db_path) as saver:
        return build_graph(saver, counter).invoke({"request": request}, config)


def resume(db_path: str, thread_id: str, counter: StepCounter) -> dict:
    """Finish the run on `thread_id` that a crash cut short; return the final state."""
    config = {"configurable": {"thread_id": thread_id}}
    with SqliteSaver.from_conn_string(db_path) as saver:
        # No input: LangGraph loads the thread's last checkpoint and runs only what is left.
        return build_graph(saver, counter).invoke(None, config)
