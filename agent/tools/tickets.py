"""Safe tool that opens a ticket for the human support team."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agent.tools.base import SupportTool, ToolContext


class TicketArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=120, description="A short title")
    details: str = Field(min_length=1, max_length=4000, description="What the customer needs")


def open_ticket(context: ToolContext, args: TicketArgs) -> str:
    """Open the ticket once per tool call, whatever retries happen."""
    return context.shop.open_ticket(context.customer, args.subject, args.details,
                                    key=context.idempotency_key, thread_id=context.thread_id)


OPEN_TICKET = SupportTool(
    "open_ticket", "Open a ticket so the human support team follows up.", TicketArgs, open_ticket
)
