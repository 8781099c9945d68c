"""Crash injection: kill the process hard at a named point, to prove crash-and-resume.

Set SUPPORT_CRASH_AT (or --crash-at) to one of the points below, optionally with `#N` to die
at the Nth time the point is reached in this process (default: the first). Unset, every
check is a no-op.

    after:<node>        a node finished its work; its checkpoint is not written yet
    tool:<tool>         inside a tool, just after its side effect committed
    summarize           while summarising: the summary is written, not yet saved
    awaiting_approval   the run paused for approval; the registry does not know yet
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading

from agent.nodes import NODE_NAMES

FIXED_POINTS = ("summarize", "awaiting_approval")
_POINT = re.compile(r"^(after:[a-z_]+|tool:[a-z_]+|summarize|awaiting_approval)(?:#([1-9]\d*))?$")


def crash_points() -> list[str]:
    """Every point the switch accepts."""
    from agent.tools import registry

    return ([f"after:{node}" for node in NODE_NAMES]
            + [f"tool:{tool}" for tool in registry.names()] + list(FIXED_POINTS))


def parse_crash_point(value: str) -> tuple[str, int]:
    """('after:agent', 1) from 'after:agent', ('tool:issue_refund', 2) from '...#2'."""
    match = _POINT.match(value)
    if not match or match.group(1) not in crash_points():
        raise ValueError(f"unknown crash point; use one of {', '.join(crash_points())}, "
                         "optionally followed by #N")
    return match.group(1), int(match.group(2) or 1)


class CrashSwitch:
    """Checks named points; kills this process with SIGKILL at the configured one."""

    def __init__(self, setting: str | None):
        self.point, self.nth = parse_crash_point(setting) if setting else (None, 0)
        self._seen = 0
        self._lock = threading.Lock()

    @property
    def armed(self) -> bool:
        return self.point is not None

    def reached(self, point: str) -> None:
        """Die here if this is the configured point (and its Nth occurrence)."""
        if point != self.point:
            return
        with self._lock:
            self._seen += 1
            if self._seen < self.nth:
                return
        print(f"[crash] SIGKILL pid {os.getpid()} at {point}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


INERT = CrashSwitch(None)
