"""The approval contract: what a supervisor answers to a paused sensitive tool call."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
