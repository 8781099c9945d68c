"""Tool names by kind; kept free of imports so settings can validate against them."""

SAFE_TOOL_NAMES: tuple[str, ...] = (
    "list_orders", "get_order_status", "search_policy", "open_ticket",
)
SENSITIVE_TOOL_NAMES: tuple[str, ...] = ("issue_refund", "cancel_order", "change_shipping_address")
ALL_TOOL_NAMES: tuple[str, ...] = SAFE_TOOL_NAMES + SENSITIVE_TOOL_NAMES
