"""What a tool is here: an argument schema the model sees and a handler bound to one customer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from agent.domain.shop import Customer, Shop


@dataclass(frozen=True)
class ToolContext:
    """Who a tool acts for and how to make its side effect idempotent."""

    shop: Shop
    customer: Customer
    thread_id: str
    tool_call_id: str

    @property
    def idempotency_key(self) -> str:
        """Stable across replays of the same tool call in the same thread."""
        return f"{self.thread_id}:{self.tool_call_id}"


@dataclass(frozen=True)
class SupportTool:
    """A tool: its name and description for the model, argument schema and handler."""

    name: str
    description: str
    args: type[BaseModel]
    handler: Callable[[ToolContext, Any], str]

    def spec(self) -> dict[str, Any]:
        """The OpenAI function-calling schema the model is given."""
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description,
                         "parameters": schema},
        }

    def run(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        """Validate the arguments (pydantic raises on bad ones) and run the handler."""
        return self.handler(context, self.args.model_validate(arguments))
