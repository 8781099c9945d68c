"""Safe tool that opens a ticket for the human support team."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.tools.base import OfflineHints, SupportTool, ToolContext
from agent.tools.intents import Intent, Request, first_sentence
from agent.tools.registry import register


class TicketArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=120, description="A short title")
    details: str = Field(min_length=1, max_length=4000, description="What the customer needs")


def open_ticket(context: ToolContext, args: TicketArgs) -> str:
    """Open the ticket once per tool call, whatever retries happen."""
    return context.shop.open_ticket(context.customer, args.subject, args.details,
                                    key=context.idempotency_key, thread_id=context.thread_id)


def recognise_ticket(request: Request) -> Intent | None:
    """'I want to speak to a human', 'my tent is broken'."""
    if re.search(r"\bticket\b|\bcomplain|\b(speak|talk) to (a |an )?(human|person|someone)"
                 r"|\bbroken\b|\bdefect|\bfaulty\b", request.lowered):
        text = request.text.strip()
        return Intent(tool="open_ticket", args={"subject": text.split("\n", 1)[0][:80],
                                                "details": text})
    return None


def note_ticket(request: Request, args: dict[str, Any]) -> str | None:
    """How a summary remembers the request."""
    return "The customer asked for a ticket: " + first_sentence(request.text)


def _done(text: str) -> str:
    return f"Done. {text}"


OPEN_TICKET = register(SupportTool(
    "open_ticket", "Open a ticket so the human support team follows up.", TicketArgs, open_ticket,
    label="Ticket",
    offline=OfflineHints(priority=40, recognise=recognise_ticket, word_result=_done,
                         remember_result=True,
                         note_request=note_ticket),
    progress=lambda args: "Opening a ticket for our team",
))
