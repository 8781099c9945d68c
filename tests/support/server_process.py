"""A server process a test starts itself: started, waited for until healthy, stopped by PID.

The browser tests' Streamlit servers and the SDK tests' `langgraph dev` share this: the
command and the health address differ, the care does not. Only the process started here is
ever stopped; its output goes to a log file whose end a failure message quotes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

STOP_SECONDS = 10


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """One server: `command()` run in `workdir` with `env`, healthy when `health_url` says 200."""

    name = "the server"
    start_seconds = 60

    def __init__(self, env: dict[str, str], workdir: Path, log_name: str) -> None:
        self.env = env
        self.workdir = workdir
        self.port = free_port()  # kept across restarts: open pages only need a reload
        self.log_path = workdir / log_name
        self.starts = 0
        self._process: subprocess.Popen | None = None

    @property
    def health_url(self) -> str:
        """Where the server answers 200 once it is ready."""
        raise NotImplementedError

    def command(self) -> list[str]:
        """The command line that starts the server."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the server and wait until it is healthy; RuntimeError if it is not."""
        self.starts += 1
        # Appended: the log of every start of this server stays in one file. The working
        # folder keeps the repository's .env (and Streamlit's secrets) out of the test.
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self._process = subprocess.Popen(self.command(), cwd=self.workdir, env=self.env,
                                             stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_seconds
        while not self._healthy():
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}:\n"
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not answer {self.health_url} within "
                                   f"{self.start_seconds} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the process this object started: politely, then for sure."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)

    def restart(self) -> None:
        """Stop the server and start a new process on the same port."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        """True while the started process is alive."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's log, for a failure message."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _healthy(self) -> bool:
        # No proxy: a developer's HTTP(S)_PROXY must not intercept the local health check.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.health_url, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False


def seeded_desk(workdir: Path, sqlite_path: Path):
    """A desk on a new SQLite file (migrated, demo shop seeded) before a server opens it.

    Done first so that the test and the server never race to create the file. Session
    fixtures run before the autouse per-test isolation, so this step isolates itself: no
    SUPPORT_* or OPENAI_* variable or .env file of the developer is read.
    """
    import pytest

    from agent.service import SupportDesk

    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("SUPPORT_", "OPENAI_")):
                patch.delenv(name)
        patch.chdir(workdir)
        return SupportDesk.open(saver="sqlite", sqlite_path=sqlite_path, model="offline")
