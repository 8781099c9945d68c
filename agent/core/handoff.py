"""Handoff to a person: how a supervisor's own words sit in a thread, and the handoff record.

A supervisor who writes in a thread does so in their own name: an AI message named "staff"
that carries who wrote it. Models read it as part of the conversation (the assistant side),
people see it marked as from a person. The thread's `handoff` state says a person handles it
now; while it is set the assistant stays quiet until the thread is handed back.
"""

from __future__ import annotations

import time
from typing import Any, Literal, TypedDict

from langchain_core.messages import AIMessage, BaseMessage

STAFF_NAME = "staff"
HAND_BACK_NOTE = "I'm handing you back to our assistant, who can help with anything else."


class Handoff(TypedDict, total=False):
    """A thread a person handles: asked for by the customer, or taken over by a supervisor."""

    status: Literal["waiting", "with_person"]  # waiting: nobody from the team has replied yet
    requested_at: float
    reason: str
    person_id: str  # the supervisor handling it, once one has replied
    person_name: str
    since: float  # when the current person took it over


def staff_message(text: str, *, person_id: str, person_name: str,
                  hand_back: bool = False) -> AIMessage:
    """A supervisor's message in a thread, in their own name."""
    return AIMessage(content=text, name=STAFF_NAME, additional_kwargs={
        "staff": {"user_id": person_id, "name": person_name, "hand_back": hand_back},
    })


def staff_author(message: BaseMessage | None) -> dict[str, Any] | None:
    """{"user_id", "name", "hand_back"} of a supervisor's message; None for anything else."""
    if not isinstance(message, AIMessage) or message.name != STAFF_NAME:
        return None
    author = message.additional_kwargs.get("staff")
    return dict(author) if isinstance(author, dict) else None


def waiting_handoff(reason: str) -> Handoff:
    """The handoff record when a customer asks for a person."""
    return Handoff(status="waiting", requested_at=time.time(), reason=reason)


def taken_over(previous: Handoff | None, person_id: str, person_name: str) -> Handoff:
    """The handoff record once a supervisor writes in the thread (keeps when it was asked)."""
    previous = previous or {}
    if previous.get("status") == "with_person" and previous.get("person_id") == person_id:
        return previous
    now = time.time()
    return Handoff(status="with_person", requested_at=previous.get("requested_at", now),
                   reason=previous.get("reason", ""), person_id=person_id,
                   person_name=person_name, since=now)
