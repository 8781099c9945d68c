"""Safe tool: the customer asks for a person, and the thread waits in the supervisors' queue."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.core.handoff import waiting_handoff
from agent.domain.audit import AuditLog, AuditRecord
from agent.tools.base import OfflineHints, SupportTool, ToolContext
from agent.tools.intents import Intent, Request
from agent.tools.registry import register

HANDED_OFF = ("I've asked a member of our support team to join this conversation. They will "
              "reply here, usually within a few minutes during opening hours.")


class PersonArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500,
                        description="What the customer wants a person for, in a few words")


def ask_for_person(context: ToolContext, args: PersonArgs) -> str:
    """Record the request (once per tool call) and say what happens next."""
    AuditLog(context.shop.db).record(AuditRecord(
        key=f"{context.idempotency_key}:handoff", tenant=context.customer.tenant,
        thread_id=context.thread_id, customer_id=context.customer.user_id,
        actor_id=context.customer.user_id, action="handoff", reason=args.reason,
        outcome="waiting for a person from the support team"))
    return HANDED_OFF


def start_handoff(args: dict[str, Any], result: str) -> dict[str, Any]:
    """The thread now waits for a person."""
    return {"handoff": waiting_handoff(str(args.get("reason") or ""))}


_ASKS_FOR_PERSON = re.compile(
    r"\b(speak|talk|chat)\s+(to|with)\s+(a|an|some|the)?\s*(real\s+)?"
    r"(human|person|people|someone|somebody|agent|representative|supervisor|manager)"
    r"|\b(real|live)\s+(human|person|agent)|\bhuman\s+(agent|being|please)"
    r"|\b(a|an)\s+(human|person)\s*(please)?[.!?]*$", re.IGNORECASE)


def recognise_person_request(request: Request) -> Intent | None:
    """'Can I talk to a person?', 'I want a human please'."""
    if _ASKS_FOR_PERSON.search(request.text):
        return Intent(tool="ask_for_person", args={"reason": request.text.strip()[:200]})
    return None


ASK_FOR_PERSON = register(SupportTool(
    "ask_for_person",
    "Hand the conversation to a person from the support team when the customer asks for one.",
    PersonArgs, ask_for_person, label="Handoff to a person",
    offline=OfflineHints(priority=35, recognise=recognise_person_request),
    progress=lambda args: "Asking a member of our team to join",
    updates_state=start_handoff,
))
