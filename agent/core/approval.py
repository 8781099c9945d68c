"""The approval contract: what a paused sensitive tool call shows, and what a supervisor answers.

The pause (the interrupt's value) follows LangChain's human-in-the-loop format that Agent Inbox
reads: a list holding one request with `action_request` (the tool and its arguments), `config`
(which answers are allowed) and `description`, plus this project's own fields beside them
(`kind`, `action`, `arguments`, `tool_call_id`, `customer`, `reason`, `excerpt`,
`requested_at`). The answer may come in either vocabulary: the project's `ApprovalDecision`
(approve / edit / reject / respond) or LangChain's `HumanResponse` (accept / edit / response /
ignore), alone or in a one-item list, as Agent Inbox sends it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

IGNORED = "A supervisor decided not to go ahead with this request."


class ApprovalDecision(BaseModel):
    """A supervisor's answer: approve, edit, reject (with why), or respond (write instead)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["approve", "edit", "reject", "respond"]
    arguments: dict[str, Any] | None = None
    reason: str | None = Field(default=None, max_length=1000)
    message: str | None = Field(default=None, max_length=4000)
    decided_by: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> ApprovalDecision:
        if self.action == "edit" and not self.arguments:
            raise ValueError("an 'edit' decision needs the changed arguments")
        if self.action == "reject" and not (self.reason and self.reason.strip()):
            raise ValueError("a 'reject' decision needs a reason for the customer")
        if self.action == "respond" and not (self.message and self.message.strip()):
            raise ValueError("a 'respond' decision needs the message the customer reads")
        return self


def human_interrupt(request: dict[str, Any], description: str) -> list[dict[str, Any]]:
    """The interrupt value: one Agent Inbox request, carrying the project's fields too."""
    return [{
        "action_request": {"action": request["action"], "args": dict(request["arguments"])},
        "config": {"allow_accept": True, "allow_edit": True, "allow_respond": True,
                   "allow_ignore": True},
        "description": description,
        **request,
    }]


def approval_payload(value: Any) -> dict[str, Any] | None:
    """The project's request fields from an interrupt value (either shape), or None."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict) and value.get("kind") == "approval":
        return value
    return None


def parse_decision(answer: Any, arguments: dict[str, Any]) -> ApprovalDecision:
    """The supervisor's answer in the project's terms, whichever vocabulary it came in.

    `arguments` are the call's current arguments: an Agent Inbox "edit" sends the whole
    action, and only what it changed counts as the edit. Raises ValueError when malformed.
    """
    if isinstance(answer, ApprovalDecision):
        return answer
    if isinstance(answer, list) and len(answer) == 1:
        answer = answer[0]
    if isinstance(answer, dict) and "type" in answer and "action" not in answer:
        answer = _from_human_response(answer, arguments)
    try:
        return ApprovalDecision.model_validate(answer)
    except ValidationError as exc:
        raise ValueError(str(exc)) from None


def _from_human_response(response: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    kind, args = response.get("type"), response.get("args")
    by = {"decided_by": response["decided_by"]} if response.get("decided_by") else {}
    if kind == "accept":
        return {"action": "approve", **by}
    if kind == "edit":
        edited = args.get("args") if isinstance(args, dict) else None
        if not isinstance(edited, dict):
            raise ValueError("an 'edit' response needs args: {\"action\": ..., \"args\": {...}}")
        changed = {k: v for k, v in edited.items() if arguments.get(k) != v}
        return {"action": "edit", "arguments": changed, **by} if changed \
            else {"action": "approve", **by}
    if kind == "response":
        return {"action": "respond", "message": args if isinstance(args, str) else "", **by}
    if kind == "ignore":
        return {"action": "reject", "reason": IGNORED, **by}
    raise ValueError(f"unknown response type {kind!r}; use accept, edit, response or ignore")
