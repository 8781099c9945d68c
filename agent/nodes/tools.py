"""Run the pending tool calls of the newest AI message, each as the thread's own customer.

The same node serves both places a tool runs: `tools` (safe calls; sensitive ones are refused,
so a state edited by hand can never run a refund there) and `actions` (after the approval
step; a sensitive call runs only with an approve or edit decision recorded for that very call,
and its audit row is written with the side effect).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from langchain_core.messages import AnyMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from pydantic import ValidationError

from agent.core.handoff import staff_message, taken_over
from agent.core.seal import DecisionSeal
from agent.crash import INERT, CrashSwitch
from agent.domain.audit import AuditLog, AuditRecord
from agent.domain.shop import Customer, Shop, ShopRuleError, money
from agent.nodes.approval import decision_key
from agent.nodes.messages import unanswered_tool_calls
from agent.state import SupportContext, SupportState
from agent.tools import ToolContext, registry
from agent.tools.base import describe_validation_error


def make_tool_node(shop: Shop, *, sensitive: frozenset[str] = frozenset(),
                   seal: DecisionSeal | None = None, audit: AuditLog | None = None,
                   crash: CrashSwitch = INERT):
    """A node that runs pending tool calls.

    Calls named in `sensitive` are refused, unless a `seal` is given: then each one is applied
    as the decision recorded for its call id says, and only under that decision's valid seal.
    """

    def run_tools(state: SupportState, config: RunnableConfig,
                  runtime: Runtime[SupportContext]) -> dict[str, Any]:
        """Run each unanswered tool call and answer it with a ToolMessage."""
        context = runtime.context
        customer = Customer(tenant=context.tenant, user_id=context.user_id)
        thread_id = str(config["configurable"]["thread_id"])
        decisions = (state.get("decisions") or {}) if seal is not None else {}
        results: list[AnyMessage] = []
        updates: dict[str, Any] = {}
        for call in unanswered_tool_calls(state["messages"]):
            decision = decisions.get(call["id"]) if call["name"] in sensitive else None
            if decision and not seal.holds(thread_id, call["id"], decision, call["args"]):
                decision = None  # not made by the approval step for this very call: none
            record = _audit_record(call, decision, context, thread_id) if decision else None
            if decision and decision["action"] in ("reject", "respond"):
                results += _answered_instead(call, decision, shop, state, updates)
                if audit is not None and record is not None:
                    audit.record(replace(record, reason=decision.get("reason")
                                         or decision.get("message", ""),
                                         outcome=_NOT_DONE[decision["action"]]))
                continue
            if call["name"] in sensitive and not (
                    decision and decision["action"] in ("approve", "edit")):
                content, status = f"{call['name']} needs a supervisor's approval first.", "error"
            else:
                tool_context = ToolContext(shop, customer, thread_id, call["id"], audit=record)
                content, status = _run_call(call, tool_context)
            if status == "success":
                crash.reached(f"tool:{call['name']}")  # the side effect is committed
                tool = registry.get(call["name"])
                if tool is not None and tool.updates_state is not None:
                    updates.update(tool.updates_state(dict(call["args"]), content))
            if record is not None and audit is not None:
                # The side effect wrote this row in its own transaction; this adds it only for
                # a tool that does not, or for a failure (whose transaction rolled back).
                audit.record(replace(record, outcome=content, ok=status == "success"))
            if decision and decision["action"] == "edit" and status == "success":
                content = f"{changed_by_supervisor(decision)} {content}"
            results.append(ToolMessage(content, tool_call_id=call["id"], name=call["name"],
                                       status=status))
        return {"messages": results, **updates}

    return run_tools


_NOT_DONE = {"reject": "rejected; the customer was told the reason",
             "respond": "not done; the supervisor wrote to the customer instead"}
NOT_DONE_RESPONDED = "Not done: a supervisor wrote to the customer about this request instead."


def _answered_instead(call: dict[str, Any], decision: dict[str, Any], shop: Shop,
                      state: SupportState, updates: dict[str, Any]) -> list[AnyMessage]:
    """A rejected call's answer; or, for a response, the answer, the supervisor's message and
    the handoff to them (put in `updates`)."""
    if decision["action"] == "reject":
        return [ToolMessage(f"A supervisor declined this request: {decision.get('reason', '')}",
                            tool_call_id=call["id"], name=call["name"], status="error")]
    by = str(decision.get("by") or "unknown")
    person = shop.get_user(by)
    name = person.display_name if person else by
    updates["handoff"] = taken_over(updates.get("handoff", state.get("handoff")), by, name)
    return [ToolMessage(NOT_DONE_RESPONDED, tool_call_id=call["id"], name=call["name"],
                        status="error"),
            staff_message(str(decision.get("message", "")), person_id=by, person_name=name)]


def changed_by_supervisor(decision: dict[str, Any]) -> str:
    """'A supervisor changed the amount from the full amount to $20.00.': told to the customer."""
    before, after = decision.get("before") or {}, decision.get("after") or {}
    changes = [f"the {name.replace('_', ' ')} from {_shown(name, before.get(name))} to "
               f"{_shown(name, after.get(name))}"
               for name in after if after.get(name) != before.get(name)]
    return f"A supervisor changed {' and '.join(changes)}." if changes else ""


def _shown(name: str, value: Any) -> str:
    if value is None or value == "":
        return "the full amount" if "amount" in name else "nothing"
    if "amount" in name and isinstance(value, int | float):
        return money(round(value * 100))
    return str(value)


def _audit_record(call: dict[str, Any], decision: dict[str, Any], context: SupportContext,
                  thread_id: str) -> AuditRecord:
    return AuditRecord(
        key=decision_key(thread_id, call["id"]), tenant=context.tenant, thread_id=thread_id,
        customer_id=context.user_id, actor_id=str(decision.get("by") or "unknown"),
        action=decision["action"], tool=call["name"], before=decision.get("before"),
        after=decision.get("after"), outcome="", reason=str(call["args"].get("reason") or ""))


def _run_call(call: dict, context: ToolContext) -> tuple[str, str]:
    tool = registry.get(call["name"])
    if tool is None:
        return f"There is no tool called {call['name']!r}.", "error"
    try:
        return tool.run(context, call["args"]), "success"
    except ValidationError as exc:
        return f"Invalid arguments for {tool.name}: {describe_validation_error(exc)}", "error"
    except ShopRuleError as exc:
        return str(exc), "error"
