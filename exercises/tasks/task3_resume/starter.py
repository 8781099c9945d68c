"""Task 3: a refund pipeline that survives a crash and resumes where it stopped.

Read BRIEF.md first. Grade this file with:  support-agent grade 3

The state and the four nodes are given: do not change them. You write build_graph, run and
resume at the bottom.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypedDict

from exercises.kit import ORDERS, StepCounter

# You will need some of these:
# import sqlite3
# from langgraph.checkpoint.sqlite import SqliteSaver
# from langgraph.graph import START, StateGraph


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
    """Return the compiled pipeline: the four nodes in order, saved by `checkpointer`."""
    # TODO 1: a StateGraph over RefundState.
    # TODO 2: add the nodes from make_nodes(counter), chained in NODE_NAMES order, from START.
    # TODO 3: compile it with the checkpointer you are given.
    raise NotImplementedError("build_graph: wire the four nodes in order and compile")


def run(db_path: str, thread_id: str, request: str, counter: StepCounter) -> dict:
    """Run the pipeline from the start on `thread_id`, saved in the SQLite file `db_path`."""
    # TODO 4: open the SQLite file and make a SqliteSaver on it.
    # TODO 5: build the graph with that saver.
    # TODO 6: invoke it with {"request": request} on the thread; return the final state.
    raise NotImplementedError("run: run the pipeline from the start on the thread")


def resume(db_path: str, thread_id: str, counter: StepCounter) -> dict:
    """Finish the run on `thread_id` that a crash cut short; return the final state."""
    # TODO 7: build the graph on the same SQLite file, in this new process.
    # TODO 8: continue the thread where its last checkpoint stopped: no new input.
    # TODO 9: return the final state.
    raise NotImplementedError("resume: continue the interrupted run on the thread")
