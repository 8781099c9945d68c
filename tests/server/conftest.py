"""LangGraph Server fixtures: the repository's langgraph.json served by a real `langgraph dev`.

One server per test session (tests/server/sdk_server.py), on a fresh SQLite file for the app's
data (users, orders, ledger, audit) with the offline model. A SupportDesk in this process
opens the same file: it issues the API tokens the clients send and checks what the server's
runs did.

`langgraph dev` comes with the dev extras (`langgraph-cli[inmem]`). Outside CI a missing CLI
skips these tests with instructions; with CI=true it fails them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sdk_server import LANGGRAPH, LangGraphServer, served
from support.server_process import seeded_desk
from support.services import missing_service

PEOPLE = ("alice", "bob", "carol", "dave", "sam", "gina")
DISABLED = "frank"  # a customer of acme whose account is disabled after getting a token


def pytest_configure(config: pytest.Config) -> None:
    """Register this folder's marker (the suite runs with --strict-markers)."""
    config.addinivalue_line("markers", "langgraph_server: drives a real `langgraph dev` server")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LangGraphServer]:
    """`langgraph dev` on a fresh SQLite file, with a token for each demo user and for a
    disabled account (`tokens["frank"]`); stopped at the end."""
    if not LANGGRAPH.exists():
        missing_service(f"{LANGGRAPH} is missing: install the dev extras (langgraph-cli[inmem]) "
                        "with `.venv/bin/pip install -e '.[dev]'`")
    workdir = tmp_path_factory.mktemp("langgraph-server")
    sqlite_path = workdir / "app.db"

    desk = seeded_desk(workdir, sqlite_path)
    tokens = {who: desk.issue_api_token(who) for who in PEOPLE}
    desk.add_user(DISABLED, display_name="Frank Ocean", email="frank@example.com",
                  role="customer", tenant="acme")
    tokens[DISABLED] = desk.issue_api_token(DISABLED)
    desk.disable_user(DISABLED)

    with served({"SUPPORT_SAVER": "sqlite", "SUPPORT_SQLITE_PATH": str(sqlite_path),
                 "SUPPORT_MODEL": "offline"}, workdir, desk, "langgraph-dev.log") as url:
        yield LangGraphServer(url, desk, tokens)

