"""Every tool the agent has, by name: the one list settings, graph, model, CLI and UI read.

Each module in `agent/tools/` (other than the machinery here) registers its tools when
imported; the registry imports them all on first use, so a new tool is one new module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from agent.tools.base import SupportTool

# Modules of this package that hold machinery, not tools.
_MACHINERY = frozenset({"base", "registry", "intents"})

_tools: dict[str, SupportTool] = {}
_loaded = False


def _load() -> dict[str, SupportTool]:
    global _loaded
    if not _loaded:
        _loaded = True
        import agent.tools as package

        for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
            if module not in _MACHINERY:
                importlib.import_module(f"agent.tools.{module}")
    return _tools


def register(tool: SupportTool) -> SupportTool:
    """Add a tool; a second tool with the same name is refused."""
    if tool.name in _tools:
        raise ValueError(f"a tool called {tool.name!r} is already registered")
    _tools[tool.name] = tool
    return tool


def unregister(name: str) -> None:
    """Remove a tool (tests that register their own)."""
    _tools.pop(name, None)


@contextmanager
def registered(tool: SupportTool) -> Iterator[SupportTool]:
    """The tool registered for the duration of a `with` block."""
    _load()
    register(tool)
    try:
        yield tool
    finally:
        unregister(tool.name)


def get(name: str) -> SupportTool | None:
    """The tool with this name, or None."""
    return _load().get(name)


def all_tools() -> list[SupportTool]:
    """Every registered tool."""
    return list(_load().values())


def names() -> tuple[str, ...]:
    """Every tool name."""
    return tuple(_load())


def sensitive_names() -> tuple[str, ...]:
    """The tools a supervisor approves unless settings say otherwise."""
    return tuple(name for name, tool in _load().items() if tool.sensitive)


def safe_names() -> tuple[str, ...]:
    """The tools that run without a supervisor by default."""
    return tuple(name for name, tool in _load().items() if not tool.sensitive)


def specs() -> list[dict[str, Any]]:
    """The function-calling schemas offered to the model."""
    return [tool.spec() for tool in _load().values()]


def label(name: str) -> str:
    """The label people see for a tool name (the name itself for an unknown tool)."""
    tool = get(name)
    return tool.title if tool else name


def progress_words(call: dict[str, Any]) -> str:
    """What a tool call does, in a customer's words (never its name or arguments)."""
    tool = get(call["name"])
    if tool is None:
        return "Working on it"
    try:
        return tool.progress_words(dict(call.get("args") or {}))
    except Exception:  # wording must never break a turn; say something true instead
        return tool.title


class _Tools(Mapping[str, SupportTool]):
    """A live, read-only view of the registry by name."""

    def __getitem__(self, name: str) -> SupportTool:
        return _load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_load())

    def __len__(self) -> int:
        return len(_load())


TOOLS: Mapping[str, SupportTool] = _Tools()
