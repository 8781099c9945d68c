"""Safe tool that searches the support policy and FAQ."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from agent.domain.policy import search_policy
from agent.tools.base import OfflineHints, SupportTool, ToolContext
from agent.tools.intents import Intent, Request
from agent.tools.registry import register


class PolicyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=500, description="What the customer asked")


def search_policy_tool(_: ToolContext, args: PolicyArgs) -> str:
    """The best-matching policy entries, or a note that nothing matched."""
    entries = search_policy(args.query)
    if not entries:
        return "No policy entry matches that question."
    return "\n".join(f"{entry.topic}: {entry.text}" for entry in entries)


def recognise_policy_question(request: Request) -> Intent | None:
    """'What is your return policy?', 'how long does shipping take?'."""
    if re.search(r"\bpolicy\b|\breturns?\b|\bwarranty\b|\bshipping\b|\bhow long\b|\bdeliver",
                 request.lowered):
        return Intent(tool="search_policy", args={"query": request.whole})
    return None


def word_policy(text: str) -> str:
    """The entries, introduced as the policy's words."""
    return f"Here is what our policy says. {text}"


SEARCH_POLICY = register(SupportTool(
    "search_policy",
    "Search the shop's policy and FAQ (returns, refunds, cancellations, shipping, warranty).",
    PolicyArgs,
    search_policy_tool,
    label="Policy search",
    offline=OfflineHints(priority=70, recognise=recognise_policy_question,
                         word_result=word_policy),
    progress=lambda args: "Checking our policy",
))
