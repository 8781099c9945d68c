"""Safe tool that searches the support policy and FAQ."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agent.domain.policy import search_policy
from agent.tools.base import SupportTool, ToolContext


class PolicyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=500, description="What the customer asked")


def search_policy_tool(_: ToolContext, args: PolicyArgs) -> str:
    """The best-matching policy entries, or a note that nothing matched."""
    entries = search_policy(args.query)
    if not entries:
        return "No policy entry matches that question."
    return "\n".join(f"{entry.topic}: {entry.text}" for entry in entries)


SEARCH_POLICY = SupportTool(
    "search_policy",
    "Search the shop's policy and FAQ (returns, refunds, cancellations, shipping, warranty).",
    PolicyArgs,
    search_policy_tool,
)
