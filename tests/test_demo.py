"""`support-agent demo crash-resume`: the narrated demonstration runs end to end."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from support.services import ADMIN_URL


def demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the demo command in its own process, as a person would."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    return subprocess.run([sys.executable, "-m", "agent.cli", "demo", "crash-resume", *args],
                          env={**base, "COLUMNS": "200", **(env or {})}, capture_output=True,
                          text=True, timeout=180)


def demo_databases() -> set[str]:
    """Databases the PostgreSQL demo creates (it must drop them again)."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE "
                             "'support_demo_%'").fetchall()
    return {row[0] for row in rows}


def test_sqlite_demo_kills_resumes_and_refunds_once():
    """The timeline shows the kill, the new PID, the checkpoint resumed from, one refund."""
    run = demo("--saver", "sqlite")
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "KILLED PID" in out and "tool:issue_refund" in out
    assert "ledger at this moment: 1 refund(s)" in out, "the refund landed before the kill"
    assert "started a new process PID" in out
    assert "resumed from checkpoint" in out and "next: actions" in out
    assert "1 refund in the ledger: exactly once." in out
    assert "last reply: Your name is Alice." in out


@pytest.mark.postgres
def test_postgres_demo_uses_and_drops_its_own_database(postgres_url):
    """On PostgreSQL the demo works in a fresh database and removes it afterwards."""
    before = demo_databases()
    run = demo("--saver", "postgres", "--at", "summarize",
               env={"SUPPORT_POSTGRES_URL": postgres_url})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "resumed from checkpoint" in run.stdout
    assert "exactly once." in run.stdout
    assert demo_databases() == before


def test_memory_demo_shows_what_was_lost():
    """On the memory saver the same crash loses the acknowledged replies, and says so."""
    run = demo("--saver", "memory")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "lost" in run.stdout and "0 ledger entries" in run.stdout
    assert "Nice to meet you, Alice!" in run.stdout.split("lost", 1)[1]


def test_unknown_crash_point_is_one_clear_line():
    """A typo in --at names the valid points, without a traceback."""
    run = demo("--at", "after:nowhere")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "unknown crash point" in run.stderr and "tool:issue_refund" in run.stderr


def test_narration_after_the_restart_tells_what_really_happened():
    """The step cut off by the kill is continued, not told twice as if sam approved twice."""
    run = demo("--saver", "sqlite")
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert out.count('sam decides: {"action": "approve"}') == 1, out
    assert "continuing step 4, which the killed process was in" in out
    assert "sam's decision (approve) is already in a checkpoint, so it is not taken again" in out
    assert "ledger at this moment: 1 refund(s) - written by the killed process, its " \
        "checkpoint was not" in out


def test_narration_of_a_kill_after_the_refund_was_checkpointed():
    """Killed at summarize, two turns after the refund: its checkpoint was written, and said so."""
    run = demo("--saver", "sqlite", "--at", "summarize")
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "its checkpoint was not" not in out
    assert "ledger at this moment: 1 refund(s), recorded in a checkpoint before the kill" in out
    assert out.count("alice: Please open a ticket: the zip of my tent is broken") == 1, out
    assert "alice's message is already in a checkpoint, so it is not sent again" in out
    assert "1 refund in the ledger: exactly once." in out
