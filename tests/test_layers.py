"""Dependencies run one way: the domain and the core load no driver and no persistence code."""

from __future__ import annotations

import subprocess
import sys

import pytest

LOW_LAYERS = ("agent.persistence", "agent.backends", "psycopg", "psycopg_pool", "redis",
              "langgraph.checkpoint.postgres", "langgraph.checkpoint.sqlite")


def _loaded_after(module: str) -> list[str]:
    """The lower-layer modules a fresh interpreter holds after importing `module`."""
    code = (f"import sys, {module}\n"
            f"low = {LOW_LAYERS!r}\n"
            "print('\\n'.join(sorted(m for m in sys.modules if m.startswith(low))))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("module", ["agent.domain.shop", "agent.domain.users",
                                    "agent.domain.seed", "agent.domain.policy", "agent.core"])
def test_the_domain_and_the_core_import_no_driver_and_no_persistence(module):
    """The shop is given a database; it never knows which driver or backend is behind it."""
    assert _loaded_after(module) == []
