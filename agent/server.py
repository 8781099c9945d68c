"""The support graph on LangGraph Server (`langgraph dev`, Studio, `langgraph_sdk`).

`langgraph.json` names `make_graph`, a graph factory: the server calls it whenever it needs the
graph and attaches its own checkpointer and store, so the graph is compiled without them. What
the tools work on (users, orders, ledger, audit) is the app database that the SUPPORT_*
settings name, opened once per process on first use and closed at exit; `agent/auth.py` reads
its users and API tokens from the same place. Importing this module opens nothing.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from dataclasses import dataclass

from langgraph.graph.state import CompiledStateGraph

from agent.domain.shop import Shop
from agent.domain.users import UserDirectory
from agent.graph import build_graph
from agent.persistence.savers import Persistence, open_persistence
from agent.settings import Settings, load_settings


@dataclass(frozen=True)
class ServerApp:
    """What one server process works with: its settings, the app database, users, the graph."""

    settings: Settings
    persistence: Persistence
    accounts: UserDirectory
    graph: CompiledStateGraph


_opened: ServerApp | None = None
_opening = threading.Lock()


def server_app() -> ServerApp:
    """This process's settings, app database and graph, opened on first use (blocking I/O)."""
    global _opened
    with _opening:
        if _opened is None:
            _opened = _open()
    return _opened


async def server_app_async() -> ServerApp:
    """`server_app()` for the server's event loop: the first opening runs in a worker thread."""
    # LangGraph Server refuses blocking I/O on its event loop (blockbuster), and opening the
    # database is exactly that; once open, it is a plain attribute read.
    return _opened or await asyncio.to_thread(server_app)


async def make_graph() -> CompiledStateGraph:
    """The graph factory for LangGraph Server: one graph per process, persistence the server's."""
    return (await server_app_async()).graph


def _open() -> ServerApp:
    settings = load_settings()
    persistence = open_persistence(settings)
    try:
        shop = Shop(persistence.db)
        graph = build_graph(checkpointer=None, store=None, settings=settings, shop=shop)
    except BaseException:
        persistence.close()
        raise
    # The tools use the database for as long as the process lives: close it in order on the
    # way out rather than leave open connections (and pool threads) to the collector.
    atexit.register(persistence.close)
    return ServerApp(settings, persistence, UserDirectory(persistence.db), graph)
