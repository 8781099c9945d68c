"""The one façade: `SupportDesk` (agent/service/desk.py), put together from one module per
concern (people, threads, chat, approvals, history), and `collect` for a whole turn."""

from agent.service.convert import collect, json_values, to_chat_message
from agent.service.desk import SupportDesk
from agent.views import (
    ApprovalRequestedEvent,
    ChatEvent,
    TurnEndedEvent,
    TurnResult,
)

__all__ = ["ApprovalRequestedEvent", "ChatEvent", "SupportDesk", "TurnEndedEvent", "TurnResult",
           "collect", "json_values", "to_chat_message"]
