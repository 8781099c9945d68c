"""The offline model's reasoning: deterministic replies and tool calls for support intents.

Given the conversation (LangChain messages) and the tools on offer, `respond` returns the
assistant's next message: a tool call when the customer asks for something a tool does, a
reply built from tool results after tools ran, or a plain answer. The same input always
gives the same output, apart from fresh tool-call ids.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from agent.facts import SHORT_ANSWERS, extract_facts
from agent.prompts import PROFILE_HEADER, SUMMARY_PROMPT
from agent.tools import registry
from agent.tools.base import SupportTool
from agent.tools.intents import Intent, Request, first_sentence

# How `summarise` writes the name down, read back when the summary is all that is left.
_SUMMARY_NAME = re.compile(r"\bThe customer's name is ([A-Za-z][A-Za-z'\-]{0,39})\.")

MAX_SUMMARY_LINES = 12


@dataclass
class Profile:
    """What the system prompt says about the customer."""

    name: str | None = None
    preferences: list[str] = field(default_factory=list)

    @property
    def wants_short_answers(self) -> bool:
        return SHORT_ANSWERS in self.preferences


def respond(messages: list[BaseMessage], tool_names: set[str]) -> AIMessage:
    """The assistant's next message for this conversation."""
    system = "\n".join(m.text for m in messages if isinstance(m, SystemMessage))
    if SUMMARY_PROMPT.splitlines()[0] in system:
        return AIMessage(content=summarise(_last_human_text(messages)))
    profile = read_profile(system)
    if profile.name is None:
        # A model reads the whole conversation it is given, not only the remembered profile.
        profile.name = recall_name(messages)
    last = messages[-1] if messages else None
    if isinstance(last, ToolMessage):
        return AIMessage(content=_shorten(reply_from_tool_results(messages), profile))
    if not isinstance(last, HumanMessage):
        return AIMessage(content="How can I help with your orders today?")
    intent = classify(last.text, profile)
    if intent.tool and intent.tool in tool_names:
        call = {"name": intent.tool, "args": intent.args or {},
                "id": f"call_{uuid.uuid4().hex[:24]}", "type": "tool_call"}
        return AIMessage(content="", tool_calls=[call])
    return AIMessage(content=_shorten(intent.reply or _fallback(), profile))


def read_profile(system_text: str) -> Profile:
    """Parse the '- name: ...' and '- preferences: ...' lines under the profile header."""
    profile = Profile()
    if PROFILE_HEADER not in system_text:
        return profile
    block = system_text.split(PROFILE_HEADER, 1)[1].split("\n\n", 1)[0]
    for line in block.splitlines():
        if line.startswith("- name: "):
            profile.name = line.removeprefix("- name: ").strip()
        elif line.startswith("- preferences: "):
            profile.preferences = [p.strip() for p in line.split(":", 1)[1].split(";") if p.strip()]
    return profile


def recall_name(messages: list[BaseMessage]) -> str | None:
    """The customer's name as told in this conversation or its summary (newest wins)."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            name = extract_facts(message.text).get("name")
        elif isinstance(message, SystemMessage):
            found = _SUMMARY_NAME.findall(message.text)
            name = found[-1] if found else None
        else:
            continue
        if name:
            return name
    return None


def classify(text: str, profile: Profile) -> Intent:
    """Map one customer message to an intent: the tools' own recognisers, then small talk."""
    lowered = text.lower()
    if re.search(r"\b(what'?s|what is|whats) my name\b|\bwho am i\b"
                 r"|\bdo you (know|remember) my name\b", lowered):
        if profile.name:
            return Intent(reply=f"Your name is {profile.name}.")
        return Intent(reply="You haven't told me your name yet.")
    request = Request(text)
    for tool in _recognisers():
        intent = tool.offline.recognise(request)
        if intent is not None:
            return intent
    facts = extract_facts(text)
    if facts.get("name"):
        return Intent(reply=f"Nice to meet you, {facts['name']}! How can I help with your "
                            "orders today?")
    if facts.get("preferences"):
        return Intent(reply="Got it, I'll remember that.")
    if re.search(r"^\s*(hi|hello|hey|good (morning|afternoon|evening))\b", lowered):
        greeting = f"Hello, {profile.name}!" if profile.name else "Hello!"
        return Intent(reply=f"{greeting} I can help with your orders, tracking, refunds, "
                            "cancellations, address changes and our policies.")
    if re.search(r"\bthank", lowered):
        return Intent(reply="You're welcome! Is there anything else I can do?")
    return Intent(reply=_fallback())


def reply_from_tool_results(messages: list[BaseMessage]) -> str:
    """Tell the customer what the tools just answered."""
    start = max(i for i, m in enumerate(messages) if isinstance(m, AIMessage) and m.tool_calls)
    names = {call["id"]: call["name"] for call in messages[start].tool_calls}
    paragraphs = []
    for message in messages[start + 1:]:
        if not isinstance(message, ToolMessage):
            continue
        name = names.get(message.tool_call_id, message.name or "")
        text = message.text.strip()
        tool = registry.get(name)
        if message.status == "error":
            paragraphs.append(f"I'm sorry, that didn't go through. {text}")
        elif tool is not None and tool.offline is not None:
            paragraphs.append(tool.offline.word_result(text))
        else:
            paragraphs.append(text)
    return "\n\n".join(paragraphs) or "Is there anything else I can help with?"


def summarise(transcript: str) -> str:
    """Fold the previous summary and a transcript into at most 12 bullet points."""
    lines: list[str] = []
    section = ""
    for raw in transcript.splitlines():
        line = raw.strip()
        if line.endswith(":") and not line.startswith("- "):
            section = line
            continue
        if section.startswith("Previous summary") and line.startswith("- "):
            lines.append(line[2:])
        elif line.startswith("Customer: "):
            lines.extend(_customer_facts(line.removeprefix("Customer: ")))
        elif line.startswith("Tool result ("):
            name, _, text = line.removeprefix("Tool result (").partition("): ")
            tool = registry.get(name)
            if tool is not None and tool.offline is not None and tool.offline.remember_result:
                lines.append(first_sentence(text))
        elif line.startswith("Tool error ("):
            _, _, text = line.partition("): ")
            lines.append("Not done: " + first_sentence(text))
    unique = list(dict.fromkeys(lines))
    return "\n".join(f"- {line}" for line in unique[-MAX_SUMMARY_LINES:])


def _customer_facts(text: str) -> list[str]:
    facts = extract_facts(text)
    found = []
    if facts.get("name"):
        found.append(f"The customer's name is {facts['name']}.")
    for preference in facts.get("preferences", []):
        found.append(f"The customer prefers {preference}.")
    intent = classify(text, Profile())
    tool = registry.get(intent.tool) if intent.tool else None
    if tool is not None and tool.offline is not None:
        note = tool.offline.note_request(Request(text), intent.args or {})
        if note:
            found.append(note)
    return found


def _recognisers() -> list[SupportTool]:
    """The tools the offline model can recognise, most specific first."""
    tools = [tool for tool in registry.all_tools() if tool.offline is not None]
    return sorted(tools, key=lambda tool: tool.offline.priority)


def _fallback() -> str:
    return ("I can help with your orders: say 'list my orders', ask where an order is, or ask "
            "for a refund, a cancellation or an address change. I can also answer questions "
            "about our policies.")


def _shorten(text: str, profile: Profile) -> str:
    if not profile.wants_short_answers:
        return text
    first = text.split("\n\n", 1)[0]
    return first if "\n" in first else first_sentence(first)


def _last_human_text(messages: list[BaseMessage]) -> str:
    humans = [m for m in messages if isinstance(m, HumanMessage)]
    return humans[-1].text if humans else ""
