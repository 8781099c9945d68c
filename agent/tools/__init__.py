"""The support tools, by name."""

from agent.tools.actions import CANCEL_ORDER, CHANGE_SHIPPING_ADDRESS, ISSUE_REFUND
from agent.tools.base import SupportTool, ToolContext
from agent.tools.catalog import ALL_TOOL_NAMES, SAFE_TOOL_NAMES, SENSITIVE_TOOL_NAMES
from agent.tools.orders import GET_ORDER_STATUS, LIST_ORDERS
from agent.tools.policy import SEARCH_POLICY
from agent.tools.tickets import OPEN_TICKET

TOOLS: dict[str, SupportTool] = {
    tool.name: tool
    for tool in (LIST_ORDERS, GET_ORDER_STATUS, SEARCH_POLICY, OPEN_TICKET,
                 ISSUE_REFUND, CANCEL_ORDER, CHANGE_SHIPPING_ADDRESS)
}
assert tuple(TOOLS) == ALL_TOOL_NAMES, "catalog.py and the tool list disagree"

__all__ = ["ALL_TOOL_NAMES", "SAFE_TOOL_NAMES", "SENSITIVE_TOOL_NAMES", "TOOLS", "SupportTool",
           "ToolContext"]
