"""What one checkpoint's step did, in words a customer reads ("The assistant checked ORD-1002").

Worked out from what the step changed (messages added or edited, older messages summarised or
set aside) and which node wrote it, so a node added to the graph later still reads sensibly:
its messages speak for it, and a step that changed nothing visible gets a neutral sentence.
Tool steps use the registry's words for the tool (`progress_words`, `title`), never its name.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from agent.service.convert import to_chat_message
from agent.tools import registry

QUOTE_CHARS = 60  # how much of a customer's message a row quotes
MAX_PARTS = 3  # a step that did more is summed up by its first few things
# Irregular past tenses the registry's wording may start with; regular verbs take "-ed".
_IRREGULAR = {"finding": "found", "getting": "got", "making": "made", "sending": "sent",
              "taking": "took", "writing": "wrote", "reading": "read", "seeing": "saw",
              "telling": "told", "giving": "gave", "buying": "bought", "paying": "paid"}
# Nodes that change no messages, said in words (anything else falls back to a neutral line).
_QUIET_NODES = {
    "load_memory": "The assistant recalled what it knows about you",
    "remember": "The assistant noted what to remember about you next time",
    "person": "Your message was kept for the person from our team helping you",
}


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """A customer's message on one line, cut short with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"


def with_article(title: str) -> str:
    """'a refund', 'an address change': a tool's label as a noun phrase."""
    noun = _lower_first(title)
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}" if noun else "an action"


def request_words(name: str, arguments: dict[str, Any], *, definite: bool = False) -> str:
    """A request as a noun phrase ('a refund on ORD-1001', 'the refund on ORD-1001')."""
    tool = registry.get(name)
    own_words = getattr(tool, "in_words", None)
    if own_words is not None and not definite:
        try:  # the tool's own wording, as the customer's waiting notice says it
            words = own_words(dict(arguments), None)
        except Exception:  # wording must never break the history page
            words = ""
        if words:
            return words
    if definite:
        words = f"the {_lower_first(tool.title)}" if tool else "the action"
    else:
        words = with_article(tool.title) if tool else "an action"
    order = arguments.get("order_id")
    return f"{words} on {order}" if isinstance(order, str) and order.strip() else words


def past_tense(progress: str) -> str | None:
    """'Checking order ORD-1002' -> 'checked order ORD-1002'; None if not worded as '-ing'."""
    first, _, rest = progress.partition(" ")
    lowered = first.lower()
    if lowered in _IRREGULAR:
        verb = _IRREGULAR[lowered]
    elif lowered.endswith("ing") and len(lowered) > 4:
        # prepar-ing -> prepar-ed, cancell-ing -> cancell-ed: the dropped "e" comes back.
        verb = lowered[:-3] + "ed"
    else:
        return None
    return f"{verb} {rest}".strip()


def step_in_words(*, source: str, written_by: Sequence[str], next_nodes: Sequence[str],
                  values: dict[str, Any], parent_values: dict[str, Any] | None,
                  pause: str | None, sensitive: Collection[str],
                  arriving: Sequence[AnyMessage] = ()) -> str:
    """One sentence (or a few, joined) saying what this step did, for the customer.

    `values` and `parent_values` are the state at this checkpoint and its parent (None for
    the first); `pause` is how the checkpoint's pause reads ("Waiting for a supervisor to
    approve ...") when the graph stopped there; `sensitive` the tools a supervisor approves;
    `arriving` what an input checkpoint receives.
    """
    if source == "input":
        staff = [m for m in map(to_chat_message, arriving) if m.role == "staff"]
        if staff:
            return f"{staff[0].author or 'A supervisor'} from our team sent a message"
        return "You sent a new message"
    if pause:
        return pause
    parent = parent_values or {}
    messages: list[AnyMessage] = values.get("messages", [])
    before = {m.id: m for m in parent.get("messages", [])}
    ids = {m.id for m in messages}
    changed = [m for m in messages if m.id not in before or _differs(m, before[m.id])]
    removed = sum(1 for i in before if i not in ids)
    calls = {c["id"]: c for m in messages if isinstance(m, AIMessage) for c in m.tool_calls}
    decisions: dict[str, dict[str, Any]] = values.get("decisions") or {}
    earlier = parent.get("decisions") or {}
    decided = {k: v for k, v in decisions.items() if earlier.get(k) != v}
    node = written_by[0] if len(written_by) == 1 else ""

    parts: list[str] = []
    if values.get("summary") and values.get("summary") != parent.get("summary"):
        parts.append("Older messages were summarised")
    elif removed:
        parts.append(f"{removed} older message{'s were' if removed != 1 else ' was'} set "
                     "aside to keep the conversation short")
    parts += [_decision_words(decision, calls.get(call_id, {}))
              for call_id, decision in decided.items()]
    if handoff := _handoff_words(values.get("handoff"), parent.get("handoff")):
        parts.append(handoff)
    for message in changed:
        said = _message_words(message, edited=message.id in before, node=node, calls=calls,
                              sensitive=sensitive, decisions=decisions)
        if said and said not in parts:
            parts.append(said)
    if not parts:
        parts.append(_quiet_words(node, messages, next_nodes, sensitive))
    return "; ".join(parts[:MAX_PARTS]) + ("; and more" if len(parts) > MAX_PARTS else "")


def _handoff_words(now: dict[str, Any] | None, before: dict[str, Any] | None) -> str:
    """Who handles the conversation, when that changed (a person took it over, or gave it back)."""
    def who(handoff: dict[str, Any] | None) -> tuple[Any, ...]:
        return (handoff.get("status"), handoff.get("person_id")) if handoff else ()

    if who(now) == who(before):
        return ""
    if not now:
        return "The conversation was handed back to the assistant"
    if now.get("status") == "with_person":
        return f"{now.get('person_name') or 'A person from our team'} took over the conversation"
    return "The conversation now waits for a person from our team"


def _decision_words(decision: dict[str, Any], call: dict[str, Any]) -> str:
    """A supervisor's decision on one request, as recorded in the state's `decisions`."""
    what = request_words(call.get("name", ""), decision.get("before") or call.get("args") or {},
                         definite=True)
    return {
        "approve": f"A supervisor approved {what}",
        "edit": f"A supervisor changed {what} and approved it",
        "reject": f"A supervisor declined {what}",
        "respond": f"A supervisor answered you instead of deciding on {what}",
    }.get(str(decision.get("action")), f"A supervisor decided on {what}")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _progress(name: str, arguments: dict[str, Any]) -> str:
    return registry.progress_words({"name": name, "args": arguments})


def _differs(message: AnyMessage, old: AnyMessage) -> bool:
    if message.content != old.content:
        return True
    return isinstance(message, AIMessage) and isinstance(old, AIMessage) \
        and message.tool_calls != old.tool_calls


def _message_words(message: AnyMessage, *, edited: bool, node: str,
                   calls: dict[str, dict[str, Any]], sensitive: Collection[str],
                   decisions: dict[str, dict[str, Any]]) -> str:
    shown = to_chat_message(message)
    if shown.role == "staff":
        return f"{shown.author or 'A supervisor'} from our team replied"
    if isinstance(message, HumanMessage):
        if edited:
            return f"You changed your message to: “{quote(message.text)}”"
        return f"You wrote: “{quote(message.text)}”"
    if isinstance(message, ToolMessage):
        return _result_words(message, node, calls.get(message.tool_call_id, {}), sensitive,
                             decisions.get(message.tool_call_id))
    if isinstance(message, AIMessage):
        if edited and decisions:  # a supervisor's edit: said by the recorded decision
            return ""
        return _assistant_words(message, edited=edited, sensitive=sensitive)
    return ""


def _assistant_words(message: AIMessage, *, edited: bool, sensitive: Collection[str]) -> str:
    gated = [c for c in message.tool_calls if c["name"] in sensitive]
    if edited and gated:
        # Only the approval step rewrites a call: the supervisor's edit before approving.
        what = " and ".join(dict.fromkeys(
            request_words(c["name"], c.get("args") or {}, definite=True) for c in gated))
        return f"A supervisor changed {what} and approved it"
    if gated:
        return "The assistant asked a supervisor to approve " + " and ".join(
            dict.fromkeys(request_words(c["name"], c.get("args") or {}) for c in gated))
    if message.tool_calls:
        started = []
        for call in message.tool_calls:
            words = _progress(call["name"], call.get("args") or {})
            if past_tense(words) is None:  # a label, not a phrase: "Order status"
                started.append(f"asked for {with_article(words)}")
            else:
                started.append(f"started {_lower_first(words)}")
        return "The assistant " + " and ".join(dict.fromkeys(started))
    return "The assistant replied" if message.text else ""


def _result_words(message: ToolMessage, node: str, call: dict[str, Any],
                  sensitive: Collection[str], decision: dict[str, Any] | None) -> str:
    ok = message.status != "error"
    name = message.name or call.get("name", "")
    arguments = call.get("args") or {}
    action = (decision or {}).get("action")
    if not ok and action in ("reject", "respond"):
        what = request_words(name, arguments, definite=True)
        return f"{what[:1].upper()}{what[1:]} was not carried out"
    if node == "approval" and not ok:  # threads from before decisions were recorded
        return f"A supervisor declined {request_words(name, arguments, definite=True)}"
    if node == "actions" or (name in sensitive and ok):
        what = request_words(name, arguments, definite=True)
        return f"The assistant carried out {what}" if ok \
            else f"The assistant could not carry out {what}"
    if name in sensitive:  # refused before anyone was asked (it can never succeed as asked)
        return f"The assistant could not go ahead with {request_words(name, arguments)}"
    words = _progress(name, arguments)
    done = past_tense(words)
    if ok:
        return f"The assistant {done}" if done else f"The assistant got {with_article(words)}"
    return f"The assistant could not finish {_lower_first(words) if done else 'it'}"


def _quiet_words(node: str, messages: list[AnyMessage], next_nodes: Sequence[str],
                 sensitive: Collection[str]) -> str:
    if node in _QUIET_NODES:
        return _QUIET_NODES[node]
    if node == "approval":
        pending = [c for m in messages[-1:] if isinstance(m, AIMessage) for c in m.tool_calls
                   if c["name"] in sensitive]
        what = " and ".join(request_words(c["name"], c.get("args") or {}, definite=True)
                            for c in pending)
        return f"A supervisor approved {what or 'the request'}"
    if node == "__start__":
        return "Your message was received"
    return "The assistant worked on your request" if next_nodes else "The turn ended"
