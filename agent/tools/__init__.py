"""The support tools: each module declares its tools; `registry` lists them by name."""

from agent.tools.base import OfflineHints, SupportTool, ToolContext
from agent.tools.registry import TOOLS

__all__ = ["TOOLS", "OfflineHints", "SupportTool", "ToolContext"]
