"""Where a customer's long-term memory lives in the LangGraph store."""

from __future__ import annotations

PROFILE_KEY = "profile"


def profile_namespace(tenant: str, user_id: str) -> tuple[str, ...]:
    """Where a customer's long-term memory lives in the store."""
    return ("customers", tenant, user_id)
