"""What langgraph.json names: importing it opens nothing, and the graph's nodes may import
agent/auth.py (for `acting_identity`) without pulling in any persistence code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sdk_server import REPO_ROOT


def _python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (nothing imported yet) with these settings."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    return subprocess.run([sys.executable, "-c", code], env={**child_env, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_langgraph_json_names_module_variables_that_exist(tmp_path: Path):
    """Every graph and the auth in langgraph.json is a real module variable (the server reads
    `vars(module)`, never a module's `__getattr__`), and importing them opens no database."""
    config = json.loads((REPO_ROOT / "langgraph.json").read_text())
    targets = [*config["graphs"].values(), config["auth"]["path"]]
    db = tmp_path / "never.db"
    code = ("import importlib, sys\n"
            f"for target in {targets!r}:\n"
            "    module, name = target.rsplit(':', 1)\n"
            "    assert name in vars(importlib.import_module(module)), target\n")
    done = _python(code, tmp_path, SUPPORT_SAVER="sqlite", SUPPORT_SQLITE_PATH=str(db))
    assert done.returncode == 0, done.stderr
    assert not db.exists()


def test_the_auth_module_loads_no_persistence_code(tmp_path: Path):
    """`import agent.auth` (what the graph's nodes import) leaves storage code unloaded."""
    done = _python("import sys, agent.auth\n"
                   "low = ('agent.persistence', 'agent.backends', 'agent.server', 'psycopg')\n"
                   "loaded = sorted(m for m in sys.modules if m.startswith(low))\n"
                   "assert not loaded, loaded\n", tmp_path)
    assert done.returncode == 0, done.stderr
