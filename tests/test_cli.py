"""End-to-end tests of the `support-agent` command line, each command a real separate process.

Nothing is shared between steps but the database, exactly as for a person who runs one
command, then another: memory, approvals and isolation must survive process boundaries.
Children get their settings only through the environment built here (the autouse fixture in
conftest.py has already removed the developer's SUPPORT_* variables and chdir'ed to tmp_path).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.services import SAVERS

# Savers whose data outlives a process; the memory saver cannot carry anything across commands.
PERSISTENT_SAVERS = [param for param in SAVERS if param.id != "memory"]

REFUND_REQUEST = "Please refund ORD-1001, the boots leak"
CANCEL_REQUEST = "Cancel ORD-1003"
TURN_LINE = re.compile(r"^thread: (\S+)  status: (\S+)$", re.MULTILINE)

# Variables that would make rich colour or reflow output that the tests read as plain text.
_TERMINAL_VARIABLES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")


class Cli:
    """Runs `python -m agent.cli` as a child process with a fixed set of settings."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.env = env
        self.cwd = cwd

    def run(self, *args: str, env: dict[str, str] | None = None, input: str | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """One command; `env` adds to (or overrides) this runner's settings."""
        child_env = {k: v for k, v in os.environ.items() if k not in _TERMINAL_VARIABLES}
        child_env.update(PYTHONIOENCODING="utf-8", NO_COLOR="1", **self.env, **(env or {}))
        return subprocess.run(
            [sys.executable, "-m", "agent.cli", *args], env=child_env, input=input,
            capture_output=True, text=True, encoding="utf-8", timeout=120,
            cwd=cwd or self.cwd, check=False,
        )

    def ok(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """A command that must succeed."""
        result = self.run(*args, **kwargs)
        assert result.returncode == 0, _explain(args, result)
        assert "Traceback" not in result.stderr, _explain(args, result)
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        """A command that must succeed and print exactly one JSON document."""
        return json.loads(self.ok(*args, **kwargs).stdout)

    def fails(self, *args: str, code: int = 2, **kwargs: Any) -> str:
        """A command that must fail the user-error way; returns its one stderr line."""
        result = self.run(*args, **kwargs)
        assert result.returncode == code, _explain(args, result)
        assert_one_error_line(result)
        return result.stderr.strip()

    def ask(self, user: str, message: str, *extra: str) -> dict[str, Any]:
        """`ask --json`: the turn's thread id, status, reply and pending approvals."""
        return self.json("ask", "--user", user, "--json", *extra, message)


def _explain(args: tuple[str, ...], result: subprocess.CompletedProcess[str]) -> str:
    return (f"support-agent {' '.join(args)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")


def assert_one_error_line(result: subprocess.CompletedProcess[str]) -> None:
    """The CLI's contract for user errors: one `error: ...` line, no traceback, no output."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == "", result.stdout


def turn_line(stdout: str) -> tuple[str, str]:
    """The (thread id, status) of the `thread: ...  status: ...` line a turn ends with."""
    matches = TURN_LINE.findall(stdout)
    assert len(matches) == 1, stdout
    return matches[0]


def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {"SUPPORT_SAVER": "sqlite", "SUPPORT_SQLITE_PATH": str(tmp_path / "data" / "cli.db")}


@pytest.fixture(params=PERSISTENT_SAVERS)
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """A runner on a fresh SQLite file or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return Cli(sqlite_env(tmp_path), tmp_path)
    postgres_url = request.getfixturevalue("postgres_url")
    return Cli({"SUPPORT_SAVER": "postgres", "SUPPORT_POSTGRES_URL": postgres_url}, tmp_path)


@pytest.fixture
def sqlite_cli(tmp_path: Path) -> Cli:
    """A runner on a fresh SQLite file, for scenarios that do not depend on the saver."""
    return Cli(sqlite_env(tmp_path), tmp_path)


@pytest.fixture
def missing_database_url(postgres_url: str) -> str:
    """A URL on the live test server naming a database that does not exist."""
    return postgres_url.rsplit("/", 1)[0] + "/sa_no_such_database"


# --- 1. memory ------------------------------------------------------------------------------


def test_memory_survives_separate_processes(cli: Cli) -> None:
    """A name told in one process is remembered in the thread and in a new thread later."""
    first = cli.ok("ask", "--user", "alice", "My name is Alice")
    thread_id, status = turn_line(first.stdout)
    assert status == "active"

    # Same thread, new process: the checkpoint is all that connects the two turns.
    again = cli.ok("ask", "--user", "alice", "--thread", thread_id, "What's my name?")
    assert "Your name is Alice." in again.stdout
    assert turn_line(again.stdout) == (thread_id, "active")

    # A new thread, new process: only the long-term store can know the name.
    fresh = cli.ok("ask", "--user", "alice", "What's my name?")
    assert "Your name is Alice." in fresh.stdout
    fresh_thread, _ = turn_line(fresh.stdout)
    assert fresh_thread != thread_id


# --- 2. approval across processes ---------------------------------------------------------


def test_approval_across_three_processes(cli: Cli) -> None:
    """Asked in one process, listed in another, approved in a third: one refund, exactly once."""
    turn = cli.ask("alice", REFUND_REQUEST)
    thread_id = turn["thread_id"]
    assert turn["status"] == "awaiting_approval"
    assert [p["action"] for p in turn["pending_approvals"]] == ["issue_refund"]

    # While it waits the customer cannot pile more onto the thread.
    blocked = cli.fails("ask", "--user", "alice", "--thread", thread_id, "hello?")
    assert "supervisor" in blocked

    pending = cli.json("approvals", "--user", "sam", "--json")
    assert len(pending) == 1
    assert pending[0]["action"] == "issue_refund"
    assert pending[0]["thread_id"] == thread_id
    assert pending[0]["customer_id"] == "alice"
    assert pending[0]["arguments"]["order_id"] == "ORD-1001"

    approved = cli.ok("approve", "--user", "sam", thread_id)
    assert "Refunded" in approved.stdout
    assert turn_line(approved.stdout) == (thread_id, "active")
    assert cli.json("approvals", "--user", "sam", "--json") == []

    # A second approval (a double click, a second supervisor) must not refund twice.
    again = cli.fails("approve", "--user", "sam", thread_id)
    assert "nothing" in again and "waiting" in again

    refunds = [e for e in cli.json("ledger", "--user", "sam", "--json")
               if e["kind"] == "refund" and e["order_id"] == "ORD-1001"]
    assert len(refunds) == 1, refunds
    assert refunds[0]["amount_cents"] == 12900
    assert refunds[0]["thread_id"] == thread_id


# --- 3. edit and reject ---------------------------------------------------------------------


def test_edit_reject_and_malformed_edit(cli: Cli) -> None:
    """An edited approval refunds the edited amount; a rejection changes nothing but tells why."""
    refund = cli.ask("alice", REFUND_REQUEST)["thread_id"]
    cancel = cli.ask("alice", CANCEL_REQUEST)["thread_id"]

    # A malformed edit is refused up front and the request keeps waiting for a good decision.
    malformed = cli.fails("approve", "--user", "sam", refund, "--set", "amount=-5")
    assert "amount" in malformed
    waiting = {p["thread_id"]: p["action"]
               for p in cli.json("approvals", "--user", "sam", "--json")}
    assert waiting == {refund: "issue_refund", cancel: "cancel_order"}

    edited = cli.ok("approve", "--user", "sam", refund, "--set", "amount=20")
    assert "Refunded $20.00" in edited.stdout

    reason = "The order has already left the warehouse"
    rejected = cli.ok("reject", "--user", "sam", cancel, "--reason", reason)
    assert turn_line(rejected.stdout) == (cancel, "active")

    ledger = cli.json("ledger", "--user", "sam", "--json")
    assert [(e["order_id"], e["kind"], e["amount_cents"]) for e in ledger] == [
        ("ORD-1001", "refund", 2000)
    ]

    # The customer reads the reason in their own thread, as the assistant's last word.
    export = cli.json("export", "--user", "alice", cancel)
    last = export["checkpoints"][-1]["values"]["messages"][-1]
    assert last["type"] == "ai"
    assert reason in last["data"]["content"]


# --- 4. isolation ---------------------------------------------------------------------------


def test_other_users_cannot_reach_a_thread(cli: Cli) -> None:
    """Another customer, or another tenant's supervisor, is told the thread does not exist."""
    turn = cli.ask("alice", REFUND_REQUEST)
    thread_id = turn["thread_id"]
    assert turn["status"] == "awaiting_approval"

    def leaks(text: str) -> bool:
        lowered = text.lower()
        return any(secret in lowered for secret in ("alice", "boots", "ord-1001", "refund"))

    for args in (
        ("show", "--user", "bob", thread_id),
        ("history", "--user", "bob", thread_id),
        ("export", "--user", "bob", thread_id),
        ("ask", "--user", "bob", "--thread", thread_id, "What's in this thread?"),
        ("show", "--user", "gina", thread_id),
        ("approve", "--user", "gina", thread_id),
    ):
        result = cli.run(*args)
        assert result.returncode == 2, _explain(args, result)
        assert_one_error_line(result)
        assert "thread not found" in result.stderr
        assert not leaks(result.stdout + result.stderr), _explain(args, result)

    assert cli.json("threads", "--user", "bob", "--json") == {"total": 0, "threads": []}
    assert cli.json("approvals", "--user", "gina", "--json") == []

    refused = cli.fails("approvals", "--user", "alice")
    assert "not a supervisor" in refused

    # Nobody's failed attempt decided anything: the request still waits for alice's supervisor.
    assert [p["thread_id"] for p in cli.json("approvals", "--user", "sam", "--json")] == [
        thread_id
    ]


# --- 5. bad configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "dotenv", "setting", "allowed"),
    [
        pytest.param(("--saver", "mysql", "threads", "--user", "alice"), {}, None,
                     "SUPPORT_SAVER", ("memory", "sqlite", "postgres"), id="flag-before"),
        pytest.param(("threads", "--user", "alice", "--saver", "mysql"), {}, None,
                     "SUPPORT_SAVER", ("memory", "sqlite", "postgres"), id="flag-after"),
        pytest.param(("threads", "--user", "alice"), {"SUPPORT_SAVER": "mysql"}, None,
                     "SUPPORT_SAVER", ("memory", "sqlite", "postgres"), id="env"),
        pytest.param(("threads", "--user", "alice"), {}, "SUPPORT_SAVER=mysql\n",
                     "SUPPORT_SAVER", ("memory", "sqlite", "postgres"), id="dotenv"),
        pytest.param(("--model", "nonsense", "threads", "--user", "alice"), {}, None,
                     "SUPPORT_MODEL", ("offline", "openai:"), id="model"),
    ],
)
def test_bad_setting_is_one_clear_line(tmp_path: Path, args: tuple[str, ...],
                                       env: dict[str, str], dotenv: str | None, setting: str,
                                       allowed: tuple[str, ...]) -> None:
    """A bad setting from a flag, the environment or .env names itself and what is allowed."""
    project = tmp_path / "project"
    project.mkdir()
    if dotenv is not None:
        (project / ".env").write_text(dotenv, encoding="utf-8")
    cli = Cli({}, project)
    line = cli.fails(*args, env=env)
    assert setting in line
    for value in allowed:
        assert value in line
    assert "mysql" in line or "nonsense" in line  # the offending value is quoted back


def test_flag_overrides_environment(tmp_path: Path) -> None:
    """`--saver sqlite` wins over SUPPORT_SAVER=postgres whose URL would not even connect."""
    cli = Cli({"SUPPORT_SAVER": "postgres",
               "SUPPORT_POSTGRES_URL": "postgresql://postgres@127.0.0.1:1/nowhere",
               "SUPPORT_SQLITE_PATH": str(tmp_path / "data" / "cli.db")}, tmp_path)
    assert cli.json("threads", "--user", "alice", "--json", "--saver", "sqlite") == {
        "total": 0, "threads": []}
    assert (tmp_path / "data" / "cli.db").exists()


@pytest.mark.postgres
def test_missing_postgres_database_is_unavailable(tmp_path: Path,
                                                  missing_database_url: str) -> None:
    """A PostgreSQL URL naming a database that does not exist: one line, exit code 3."""
    cli = Cli({"SUPPORT_SAVER": "postgres", "SUPPORT_POSTGRES_URL": missing_database_url},
              tmp_path)
    line = cli.fails("ask", "--user", "alice", "hello", code=3)
    assert "PostgreSQL" in line
    assert "sa_no_such_database" in line


# --- 6. bad input ---------------------------------------------------------------------------


def test_bad_messages_create_no_thread(cli: Cli) -> None:
    """An empty or oversized message is refused before a thread is created."""
    cli.ask("alice", "list my orders")  # one real thread, so "unchanged" is not just "empty"

    assert "empty" in cli.fails("ask", "--user", "alice", "")
    assert "empty" in cli.fails("ask", "--user", "alice", "   \n  ")
    too_long = cli.fails("ask", "--user", "alice", "x" * 4001)
    assert "4,000" in too_long

    assert cli.json("threads", "--user", "alice", "--json")["total"] == 1


# --- 7. doctor ------------------------------------------------------------------------------


def doctor_lines(stdout: str) -> dict[str, tuple[str, str]]:
    """{check name: (ok | FAIL, detail)} from doctor's output."""
    checks = {}
    for line in stdout.splitlines():
        mark, name, *detail = line.split(maxsplit=2)
        checks[name] = (mark, detail[0] if detail else "")
    assert set(checks) == {"config", "database", "redis", "model"}, stdout
    return checks


def test_doctor_all_ok(cli: Cli) -> None:
    """On a working database doctor prints four ok lines and exits 0."""
    checks = doctor_lines(cli.ok("doctor").stdout)
    assert {mark for mark, _ in checks.values()} == {"ok"}
    assert "schema v" in checks["database"][1]
    assert "not configured" in checks["redis"][1]


@pytest.mark.redis
def test_doctor_reaches_redis(sqlite_cli: Cli, redis_url: str) -> None:
    """With the real Redis configured, doctor's redis line is ok."""
    checks = doctor_lines(sqlite_cli.ok("doctor", "--redis-url", redis_url).stdout)
    assert checks["redis"][0] == "ok"
    assert "reachable" in checks["redis"][1]


def test_doctor_reports_unreachable_redis(sqlite_cli: Cli) -> None:
    """A Redis URL on a closed port: a FAIL redis line and exit 1, not a crash."""
    result = sqlite_cli.run("doctor", "--redis-url", "redis://127.0.0.1:1/0")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    checks = doctor_lines(result.stdout)
    assert checks["redis"][0] == "FAIL"
    assert checks["database"][0] == "ok"


@pytest.mark.postgres
def test_doctor_reports_missing_database(tmp_path: Path, missing_database_url: str) -> None:
    """A PostgreSQL database that does not exist: a FAIL database line and exit 1."""
    cli = Cli({}, tmp_path)
    result = cli.run("doctor", "--saver", "postgres", "--postgres-url", missing_database_url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    checks = doctor_lines(result.stdout)
    assert checks["database"][0] == "FAIL"
    assert "does not exist" in checks["database"][1]
    assert checks["config"][0] == "ok"


# --- 8. export and history ------------------------------------------------------------------


def test_export_and_history_order(cli: Cli) -> None:
    """export is oldest first and ends with the reply; history --json is newest first."""
    thread_id = cli.ask("alice", "My name is Alice")["thread_id"]
    cli.ask("alice", "What's my name?", "--thread", thread_id)

    cli.ok("export", "--user", "alice", thread_id, "-o", "thread.json")
    export = json.loads(Path(cli.cwd, "thread.json").read_text(encoding="utf-8"))
    assert export["thread"]["thread_id"] == thread_id
    checkpoints = export["checkpoints"]
    steps = [c["step"] for c in checkpoints]
    assert steps == sorted(steps) and len(set(steps)) == len(steps), steps
    times = [c["created_at"] for c in checkpoints]
    assert times == sorted(times)
    last = checkpoints[-1]["values"]["messages"][-1]
    assert (last["type"], last["data"]["content"]) == ("ai", "Your name is Alice.")

    history = cli.json("history", "--user", "alice", thread_id, "--json")
    for entry in history:
        assert {"checkpoint_id", "step", "source", "message_count", "size_bytes"} <= set(entry)
    steps = [c["step"] for c in history]
    assert steps == sorted(steps, reverse=True), steps
    # Two short turns fit on one history page, so it is the export exactly reversed.
    assert [c["checkpoint_id"] for c in history] == [
        c["checkpoint_id"] for c in reversed(checkpoints)]
    assert history[0]["message_count"] == 4  # two customer messages, two replies
    assert all(c["size_bytes"] > 0 for c in history)


# --- 9. interactive chat --------------------------------------------------------------------


def test_chat_reads_stdin(sqlite_cli: Cli) -> None:
    """`chat` answers each stdin line on one thread and leaves on /quit."""
    result = sqlite_cli.ok("chat", "--user", "alice",
                           input="My name is Alice\nWhat's my name?\n/quit\n")
    assert "Your name is Alice." in result.stdout
    threads = {thread for thread, _ in TURN_LINE.findall(result.stdout)}
    assert len(threads) == 1, result.stdout


# --- terminal output ------------------------------------------------------------------------


def test_brackets_in_customer_text_are_printed_literally(sqlite_cli: Cli) -> None:
    """Square brackets typed by a customer or supervisor are shown as typed, not as markup."""
    # rich would read "[/sigh]" as a closing tag and crash (MarkupError), or swallow "[bold]";
    # one customer's message must not be able to break the supervisor's queue.
    message = f"{REFUND_REQUEST} [/sigh] [bold]now[/bold]"
    thread_id = sqlite_cli.ask("alice", message)["thread_id"]

    shown = sqlite_cli.ok("show", "--user", "alice", thread_id)
    assert "[/sigh] [bold]now[/bold]" in shown.stdout
    sqlite_cli.ok("threads", "--user", "alice")
    sqlite_cli.ok("approvals", "--user", "sam")

    rejected = sqlite_cli.ok("reject", "--user", "sam", thread_id, "--reason", "no [/way]")
    assert "no [/way]" in rejected.stdout
