"""A `langgraph dev` process of the tests' own, and SDK clients that sign in to it.

`DevServer` serves the repository's langgraph.json (its graphs and auth as shipped) from a
working folder of its own, with the SUPPORT_* settings it is given and nothing that reaches
the network: no LangSmith tracing, no CLI analytics, no version check, and none of the
developer's keys. Only the process started here is ever stopped, by its PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.server_process import ServerProcess

from agent.service import SupportDesk

REPO_ROOT = Path(__file__).resolve().parents[2]
LANGGRAPH = Path(sys.executable).parent / "langgraph"  # the CLI beside this interpreter
ARTIFACTS = REPO_ROOT / "test-artifacts" / "server"
START_SECONDS = 120

# What would reach beyond this machine, turned off; and the developer's own settings left out.
OFFLINE = {"LANGSMITH_TRACING": "false", "LANGCHAIN_TRACING_V2": "false",
           "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true"}
LEFT_OUT = ("SUPPORT_", "OPENAI_", "LANGSMITH_", "LANGCHAIN_", "LANGGRAPH_")


PROBE = "identity_probe"  # a test graph served beside the shipped ones (identity_probe.py)


def served_config(workdir: Path) -> Path:
    """The repository's langgraph.json as served here: graphs and auth as shipped, plus the
    probe graph; the package found at the repository; no .env file (the test gives every
    setting)."""
    config = json.loads((REPO_ROOT / "langgraph.json").read_text())
    config.pop("env", None)
    config["dependencies"] = [str(REPO_ROOT)]
    config["graphs"][PROBE] = f"{Path(__file__).with_name('identity_probe.py')}:graph"
    path = workdir / "langgraph.json"
    path.write_text(json.dumps(config, indent=2))
    return path


class DevServer(ServerProcess):
    """`langgraph dev --no-browser` on 127.0.0.1 and a free port, in `workdir`."""

    name = "`langgraph dev`"
    start_seconds = START_SECONDS

    def __init__(self, settings: dict[str, str], workdir: Path) -> None:
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(LEFT_OUT)}
        env.update(OFFLINE, **settings)
        # The working folder keeps the server's files (.langgraph_api/) and the repository's
        # .env out of the repository and out of the test.
        super().__init__(env, workdir, "langgraph-dev.log")
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        """The API server's liveness route."""
        return f"{self.url}/ok"

    def command(self) -> list[str]:
        """`langgraph dev` serving the repository's langgraph.json on this server's port."""
        return [str(LANGGRAPH), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1",
                "--port", str(self.port), "--config", str(served_config(self.workdir))]

    def start(self) -> None:
        """Start the server and wait until it answers `/ok`; RuntimeError if it does not."""
        super().start()
        # It moves to another port when the one asked for is taken, saying so only in its
        # log: then whatever answered above is somebody else's server.
        if "already in use" in self.log_path.read_text(errors="replace"):
            self.stop()
            raise RuntimeError(f"port {self.port} was taken and `langgraph dev` moved "
                               f"elsewhere:\n{self.log_tail()}")


@dataclass(frozen=True)
class LangGraphServer:
    """The running server as tests see it: its address, a desk on its app database, tokens."""

    url: str
    desk: SupportDesk
    tokens: dict[str, str]

    def client(self, who: str) -> Any:
        """A `langgraph_sdk` sync client signed in as `who` (with their API token)."""
        from langgraph_sdk import get_sync_client

        return get_sync_client(url=self.url,
                               headers={"Authorization": f"Bearer {self.tokens[who]}"})


@contextlib.contextmanager
def served(env: dict[str, str], workdir: Path, desk: SupportDesk, log_name: str
           ) -> Iterator[str]:
    """`langgraph dev` with `env`, its URL for the block; then stopped, `desk` closed and the
    server's log kept in test-artifacts/server/ (the first place to look after a failure)."""
    process = DevServer(env, workdir)
    try:
        try:
            process.start()
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield process.url
    finally:
        process.stop()
        desk.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copyfile(process.log_path, ARTIFACTS / log_name)
