"""Run a function in a forked process with its own output, a result file and a time limit.

Forking (rather than starting a new interpreter) keeps a check cheap: LangGraph is already
imported in the parent, while the learner's module is only ever imported in the child, so each
child starts as fresh as a new process as far as the learner's code can tell.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["ok", "error", "timeout", "died"]


@dataclass
class ForkOutcome:
    """How a forked call ended: its JSON value, or the error it raised, or how it died."""

    status: Status
    value: Any = None
    error: str = ""
    error_type: str = ""
    seconds: float = 0.0
    output: str = ""  # the tail of what the child printed


@dataclass
class Forked:
    """A running forked call."""

    pid: int
    result_path: Path
    output_path: Path
    started: float = field(default_factory=time.monotonic)
    _outcome: ForkOutcome | None = None

    def poll(self) -> ForkOutcome | None:
        """The outcome if the child has ended, else None."""
        if self._outcome is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._outcome = self._read(status)
        return self._outcome

    def wait(self, timeout: float | None = None) -> ForkOutcome:
        """Wait for the child (killing it and its own children after `timeout` seconds)."""
        deadline = None if timeout is None else self.started + timeout
        delay = 0.002
        while (outcome := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                self.kill()
                self._outcome = ForkOutcome("timeout", seconds=timeout or 0.0,
                                            output=self._output_tail())
                self._cleanup()
                return self._outcome
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        return outcome

    def kill(self) -> None:
        """SIGKILL the child (and, if it leads a process group, the whole group)."""
        for kill in (lambda: os.killpg(self.pid, signal.SIGKILL),
                     lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                kill()
            except (ProcessLookupError, PermissionError):
                continue
        with contextlib.suppress(ChildProcessError):  # already reaped
            os.waitpid(self.pid, 0)

    def _read(self, status: int) -> ForkOutcome:
        seconds = time.monotonic() - self.started
        output = self._output_tail()
        try:
            data = json.loads(self.result_path.read_text())
        except (OSError, ValueError):
            signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            why = (f"killed by signal {signal.Signals(signum).name}" if signum
                   else f"exited with status {os.waitstatus_to_exitcode(status)}")
            outcome = ForkOutcome("died", error=f"the process {why}", seconds=seconds,
                                  output=output)
        else:
            outcome = ForkOutcome(data["status"], data.get("value"), data.get("error", ""),
                                  data.get("error_type", ""), seconds, output)
        self._cleanup()
        return outcome

    def _output_tail(self, limit: int = 2000) -> str:
        try:
            text = self.output_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-limit:]

    def _cleanup(self) -> None:
        for path in (self.result_path, self.output_path):
            path.unlink(missing_ok=True)


def start_forked(function: Callable[..., Any], *args: Any, own_group: bool = False,
                 describe_error: Callable[[BaseException], str] | None = None) -> Forked:
    """Call `function(*args)` in a forked child; its return value must be JSON-serialisable."""
    fd, result_name = tempfile.mkstemp(prefix="grade-", suffix=".json")
    os.close(fd)
    out_fd, output_name = tempfile.mkstemp(prefix="grade-", suffix=".out")
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(out_fd)
        return Forked(pid, Path(result_name), Path(output_name))
    _run_child(function, args, result_name, out_fd, own_group, describe_error)
    raise AssertionError("unreachable")  # pragma: no cover


def _run_child(function: Callable[..., Any], args: tuple, result_name: str, out_fd: int,
               own_group: bool, describe_error: Callable[[BaseException], str] | None) -> None:
    code = 0
    try:
        if own_group:
            os.setpgid(0, 0)  # so a time limit can kill whatever the check started
        # The learner's prints go to a file, not into the grader's report.
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        # Also the Python-level streams, which a host (pytest, an IDE) may have replaced.
        sys.stdout = sys.stderr = open(out_fd, "w", buffering=1, closefd=False)  # noqa: SIM115
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        try:
            value = function(*args)
            payload = {"status": "ok", "value": value}
        except BaseException as exc:
            text = describe_error(exc) if describe_error else "".join(
                traceback.format_exception(exc))
            payload = {"status": "error", "error": text, "error_type": type(exc).__name__}
        try:
            encoded = json.dumps(payload, default=str)
        except (TypeError, ValueError) as exc:
            encoded = json.dumps({"status": "error", "error": f"result not JSON: {exc}",
                                  "error_type": "TypeError"})
        tmp = result_name + ".tmp"
        with open(tmp, "w") as handle:
            handle.write(encoded)
        os.replace(tmp, result_name)
    except BaseException:
        code = 70
    finally:
        os._exit(code)
