"""A throwaway PostgreSQL cluster of the tests' own, for tests that stop or restart a server.

A developer's own database server is never stopped by the suite: a test that needs a restart
gets a cluster initialised into a temporary directory (trust auth, its own free port on
127.0.0.1, its own socket directory), driven with `pg_ctl -w -m fast`, and deleted afterwards.
initdb refuses to run as root, so as root the cluster belongs to the `postgres` OS user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from support.services import missing_service

PG_BIN = Path(os.environ.get("SUPPORT_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
READY_SECONDS = 60  # how long a (re)started server may take to accept connections
PG_CTL_SECONDS = 120  # a bound on every pg_ctl/initdb call, so a wedged server fails the test
SERVER_OWNER = "postgres"  # the OS user that runs the cluster when the tests run as root
# Settings for a disposable server: small, and no fsync (nothing here must survive a power cut).
CONFIG = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 50
shared_buffers = 16MB
fsync = off
synchronous_commit = off
full_page_writes = off
"""


def _binary(name: str) -> str | None:
    """The path of a PostgreSQL server binary, or None when it is not installed."""
    candidate = PG_BIN / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayPostgres:
    """One PostgreSQL cluster in a temporary directory; `close()` stops it and deletes it."""

    def __init__(self) -> None:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if not (initdb and pg_ctl):
            missing_service(f"tests that restart PostgreSQL need initdb and pg_ctl (looked in "
                            f"{PG_BIN} and on PATH; set SUPPORT_TEST_PG_BIN to their directory, "
                            f"or install the postgresql server package)")
        self._initdb, self._pg_ctl = initdb, pg_ctl
        self._as_owner: list[str] = []
        owner = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(SERVER_OWNER)
            except KeyError:
                missing_service(f"initdb refuses to run as root and there is no "
                                f"'{SERVER_OWNER}' OS user to run the throwaway cluster as")
            if not shutil.which("runuser"):
                missing_service("initdb refuses to run as root, and runuser (util-linux) is "
                                f"missing to run it as '{SERVER_OWNER}'")
            self._as_owner = ["runuser", "-u", SERVER_OWNER, "--"]
        self.root = Path(tempfile.mkdtemp(prefix="support-agent-pg-"))
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "server.log"
        self.port = 0
        try:
            self._run(self._initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
            self._run("mkdir", "-p", str(self.socket_dir))
            self._start_on_a_free_port()
        except BaseException:
            self.close()
            raise

    # --- pg_ctl -------------------------------------------------------------------------------

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a command as the cluster's owner; fail with its output when it fails."""
        done = subprocess.run([*self._as_owner, *command], capture_output=True, text=True,
                              timeout=PG_CTL_SECONDS, cwd=self.root,
                              env={**os.environ, "LC_ALL": "C"})
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n"
                                 f"{done.stdout}{done.stderr}{self._log_tail()}")
        return done

    def _ctl(self, action: str) -> None:
        self._run(self._pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", str(READY_SECONDS), "-m", "fast", action)

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\nserver log:\n" + self.log.read_text()[-2000:]
        return ""

    def _start_on_a_free_port(self) -> None:
        # Another process may take the port between the probe and the bind: try a few.
        for attempt in range(3):
            self.port = _free_port()
            self._write_config()
            try:
                self._ctl("start")
                break
            except AssertionError:
                if attempt == 2:
                    raise
        self.wait_ready()

    def _write_config(self) -> None:
        config = CONFIG.format(port=self.port, socket_dir=self.socket_dir)
        # postgresql.auto.conf is read last, so these settings win; rewritten on every attempt.
        auto = self.data / "postgresql.auto.conf"
        auto.write_text("# written by tests/support/pg_cluster.py\n" + config)
        if self._as_owner:
            owner = pwd.getpwnam(SERVER_OWNER)
            os.chown(auto, owner.pw_uid, owner.pw_gid)

    # --- what tests use -----------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        """The URL of a database on this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def is_ready(self) -> bool:
        """True when the server accepts connections."""
        try:
            with psycopg.connect(self.url(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def wait_ready(self) -> None:
        """Wait until the server accepts connections."""
        deadline = time.monotonic() + READY_SECONDS
        while not self.is_ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"the throwaway PostgreSQL did not accept connections "
                                     f"within {READY_SECONDS}s{self._log_tail()}")
            time.sleep(0.1)

    def restart(self) -> float:
        """Restart (fast shutdown: every session is cut) and wait; return the seconds taken."""
        started = time.monotonic()
        self._ctl("restart")
        self.wait_ready()
        return time.monotonic() - started

    def stop(self) -> None:
        """Stop the server (fast shutdown)."""
        self._ctl("stop")
        assert not self.is_ready()

    def start(self) -> None:
        """Start the server if it is down, and wait until it accepts connections."""
        if not self.is_ready():
            self._ctl("start")
        self.wait_ready()

    def close(self) -> None:
        """Stop the server (by pg_ctl, else by its PID) and delete its directory."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            try:
                self._ctl("stop")
            except (AssertionError, subprocess.TimeoutExpired):
                # Immediate shutdown of this cluster's own postmaster, found by its PID file.
                with contextlib.suppress(OSError, ValueError, IndexError):
                    pid = int(pid_file.read_text().split()[0])
                    os.kill(pid, signal.SIGQUIT)
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline:
                        os.kill(pid, 0)  # raises once the postmaster is gone
                        time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
