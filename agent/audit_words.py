"""The audit trail in words people read: one wording for the Audit page and `support-agent audit`.

Both show the same columns, so a supervisor reading the terminal and one reading the page see
the same row the same way. No Streamlit and no rich here: the callers draw.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from agent.domain.rules import money
from agent.errors import InvalidInput
from agent.tools import registry
from agent.views import AuditView

ACTION_WORDS = {
    "approve": "Approved",
    "edit": "Edited then approved",
    "reject": "Rejected",
    "respond": "Replied instead",
    "handoff": "Handoff requested",
    "reply": "Supervisor replied",
    "hand_back": "Handed back",
}

# Whether it worked comes right after the action: a failure must be seen before any scrolling.
COLUMNS = ("When (UTC)", "Customer", "Action", "Succeeded", "Request", "By", "Changes",
           "Reason or message", "Outcome")
FAILED = "No - failed"
SUCCEEDED = "Yes"
# Arguments shown in their own column (reason) or as the request's subject (order).
_NOT_IN_REQUEST = ("reason", "order_id")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def action_words(action: str) -> str:
    """'Edited then approved' for 'edit' (an unknown action as itself)."""
    return ACTION_WORDS.get(action, action)


def reason_label(action: str) -> str:
    """What the reason column holds for this action: a 'Reason', or a person's 'Message'."""
    return "Message" if action in ("respond", "reply", "hand_back") else "Reason"


def when(epoch: float) -> str:
    """'2026-11-30 14:05:09': the time in UTC, with its date."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def value_words(name: str, value: Any) -> str:
    """One argument's value as people read it ('$20.00', 'full amount', '5 Elm St')."""
    money_like = "amount" in name
    if value is None or value == "":
        return "full amount" if money_like else "(none)"
    if money_like and isinstance(value, int | float) and not isinstance(value, bool):
        return money(round(value * 100))
    return str(value)


def request_words(row: AuditView) -> str:
    """'Refund · ORD-1002 · $20.00': what was asked, before any edit ('' for a handoff step)."""
    if not row.tool:
        return ""
    arguments = row.before or {}
    parts = [row.tool_label or row.tool]
    if arguments.get("order_id"):
        parts.append(str(arguments["order_id"]))
    tool = registry.get(row.tool)
    names = list(tool.args.model_fields) if tool is not None else list(arguments)
    parts += [value_words(name, arguments.get(name)) for name in names
              if name not in _NOT_IN_REQUEST]
    return " · ".join(parts)


def changes_words(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """'amount: full amount -> $20.00': what an edit changed ('' when nothing did)."""
    before, after = before or {}, after or {}
    return "; ".join(
        f"{name.replace('_', ' ')}: {value_words(name, before.get(name))} -> "
        f"{value_words(name, after.get(name))}"
        for name in after if after.get(name) != before.get(name))


def row_words(row: AuditView) -> dict[str, str]:
    """One audit row as the COLUMNS show it."""
    return dict(zip(COLUMNS, (
        when(row.created_at), row.customer_name, action_words(row.action),
        SUCCEEDED if row.ok else FAILED, request_words(row), row.actor_name,
        changes_words(row.before, row.after), row.reason, row.outcome), strict=True))


def day_range(start: date | None, end: date | None) -> tuple[float | None, float | None]:
    """(since, until) epochs for whole UTC days from `start` to `end`, both included."""
    if start is not None and end is not None and end < start:
        raise InvalidInput(f"the time range ends ({end.isoformat()}) before it starts "
                           f"({start.isoformat()}); pick an end on or after the start")
    since = _midnight(start) if start is not None else None
    until = _midnight(end + timedelta(days=1)) if end is not None else None
    return since, until


def parse_day(text: str, what: str) -> date:
    """A YYYY-MM-DD date, or InvalidInput naming `what` and the expected form."""
    try:
        if _DAY.fullmatch(text.strip()):
            return date.fromisoformat(text.strip())
    except ValueError:  # 2026-02-30 has the form but is no date
        pass
    raise InvalidInput(f"{what} must be a date written YYYY-MM-DD (e.g. 2026-01-31), got "
                       f"{text!r}")


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
