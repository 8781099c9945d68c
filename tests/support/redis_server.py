"""A throwaway Redis server of the tests' own, for tests that stop, restart or empty Redis.

The machine's Redis is shared with the developer's other work: a test that needs to take Redis
away starts `redis-server` on a free port (no persistence) and stops it by PID afterwards.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from support.services import missing_service

READY_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayRedis:
    """One redis-server process on a free port of 127.0.0.1; `close()` stops it."""

    def __init__(self) -> None:
        self._binary = shutil.which("redis-server")
        if not self._binary:
            missing_service("tests that stop or empty Redis need redis-server on PATH "
                            "(install the redis-server package)")
        self._dir = Path(tempfile.mkdtemp(prefix="support-agent-redis-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        try:
            self.start()
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def is_ready(self) -> bool:
        """True when the server answers PING."""
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=2)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        """Start the server (on its old port after a stop) and wait until it answers."""
        self.port = self.port or _free_port()
        self.process = subprocess.Popen(
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_SECONDS
        while not self.is_ready():
            if self.process.poll() is not None:
                raise AssertionError(f"redis-server on port {self.port} exited "
                                     f"({self.process.returncode})")
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not answer within {READY_SECONDS}s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server by its PID and wait for it to exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port (every key is lost: nothing is saved)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its directory."""
        with contextlib.suppress(OSError):
            self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ThrowawayRedis:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
