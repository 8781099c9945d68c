"""A seal on each supervisor's decision, so that only the approval step can make one.

The approval step seals what it records (thread, tool call, decision, arguments, who) with a
key the app keeps in its database; the actions step runs a sensitive call only under a seal that
matches. A state written by hand (LangGraph's `update_state`, as any node) cannot carry a valid
seal without the key, so it cannot move money.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any


class DecisionSeal:
    """Seals and checks decisions with one key."""

    def __init__(self, key: bytes):
        self._key = key

    def seal(self, thread_id: str, tool_call_id: str, decision: dict[str, Any],
             arguments: dict[str, Any]) -> str:
        """The seal of a decision on one call, with the arguments the call will run with."""
        body = json.dumps([thread_id, tool_call_id, decision.get("action"), decision.get("by"),
                           arguments], sort_keys=True, default=str)
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def holds(self, thread_id: str, tool_call_id: str, decision: dict[str, Any],
              arguments: dict[str, Any]) -> bool:
        """True when the decision's seal is the one this key gives for these arguments."""
        expected = self.seal(thread_id, tool_call_id, decision, arguments)
        return hmac.compare_digest(str(decision.get("seal", "")), expected)
