"""The command line at its edges: bytes that are not text, terminal escapes, misleading messages.

Every command is a real child process (tests/test_cli.py's `Cli`). Arguments are passed as
raw bytes where the point is bytes that are not UTF-8, exactly as a shell would pass them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from test_cli import REFUND_REQUEST, Cli, assert_one_error_line, sqlite_env, turn_line

from agent.nodes.memory import PROFILE_KEY, profile_namespace
from agent.service import SupportDesk
from agent.turns import thread_config

# A customer's text that would drive a terminal: a window title (OSC), a hyperlink (OSC 8),
# clear screen and colour (CSI), the C1 form of CSI, a bell and a carriage return.
STEERING = ("before \x1b]0;pwned\x07\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\ "
            "\x1b[2J\x1b[31mred\x1b[0m \x9b1mbold bell\x07 cr\rX after")
CONTROLS = ("\x1b", "\x07", "\x9b", "\r", "\x00")


@pytest.fixture
def sqlite_cli(tmp_path: Path) -> Cli:
    """A runner on a fresh SQLite file."""
    return Cli(sqlite_env(tmp_path), tmp_path)


def _db(tmp_path: Path) -> Path:
    return Path(sqlite_env(tmp_path)["SUPPORT_SQLITE_PATH"])


def run_bytes(cli: Cli, *args: str | bytes, stdin: bytes | None = None,
              ) -> subprocess.CompletedProcess[str]:
    """Like Cli.run, but arguments and standard input may be raw bytes."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")}
    env.update(PYTHONIOENCODING="utf-8", NO_COLOR="1", **cli.env)
    result = subprocess.run([sys.executable, "-m", "agent.cli", *args], env=env, input=stdin,
                            capture_output=True, timeout=120, cwd=cli.cwd, check=False)
    return subprocess.CompletedProcess(result.args, result.returncode,
                                       result.stdout.decode("utf-8", "replace"),
                                       result.stderr.decode("utf-8", "replace"))


# --- bytes that are not UTF-8 -------------------------------------------------------------------


def test_invalid_utf8_in_a_message_argument_is_refused_and_nothing_stored(sqlite_cli: Cli):
    """`ask` with a byte that is not UTF-8: exit 2, one line saying where; no thread, no '?'."""
    result = run_bytes(sqlite_cli, "ask", "--user", "alice", b"refund ORD-1001 \xff please")
    assert result.returncode == 2, result.stderr
    assert_one_error_line(result)
    assert "the message is not valid text (invalid UTF-8 at character 17" in result.stderr
    assert sqlite_cli.json("threads", "--user", "alice", "--json")["total"] == 0

    thread_id = sqlite_cli.ask("alice", "list my orders")["thread_id"]
    before = sqlite_cli.ok("show", "--user", "alice", thread_id).stdout
    result = run_bytes(sqlite_cli, "ask", "--user", "alice", "--thread", thread_id,
                       b"refund ORD-1001 \xff please")
    assert result.returncode == 2, result.stderr
    assert_one_error_line(result)
    assert sqlite_cli.ok("show", "--user", "alice", thread_id).stdout == before


@pytest.mark.parametrize("command", [("show",), ("history",), ("export",), ("delete",),
                                     ("rename", "new title"), ("resume",)])
def test_invalid_utf8_in_a_thread_id_is_one_clear_line(sqlite_cli: Cli, command):
    """Every command that takes a thread id refuses one that is not text, without a traceback."""
    name, *rest = command
    result = run_bytes(sqlite_cli, name, "--user", "alice", b"t_\xff\xfe", *rest)
    assert result.returncode == 2, result.stderr
    assert_one_error_line(result)
    assert "the thread id is not valid text (invalid UTF-8 at character 3" in result.stderr


def test_invalid_utf8_in_a_user_id_is_one_clear_line(sqlite_cli: Cli):
    """--user with a byte that is not UTF-8 is named as the user id."""
    result = run_bytes(sqlite_cli, "threads", "--user", b"al\xffice")
    assert result.returncode == 2, result.stderr
    assert_one_error_line(result)
    assert "the user id is not valid text" in result.stderr


def test_chat_refuses_bad_bytes_and_controls_on_stdin_and_carries_on(sqlite_cli: Cli):
    """Bad lines on chat's stdin get an error each; the good line after them is answered."""
    stdin = b"hi \xff there\nhi \x00 there\nMy name is Alice\n/quit\n"
    result = run_bytes(sqlite_cli, "chat", "--user", "alice", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2, result.stderr
    assert "the message is not valid text (invalid UTF-8 at character 4" in errors[0]
    assert "the message contains a control character (U+0000) at character 4" in errors[1]
    assert "Nice to meet you, Alice!" in result.stdout
    threads = sqlite_cli.json("threads", "--user", "alice", "--json")["threads"]
    assert [t["title"] for t in threads] == ["My name is Alice"]


# --- terminal escapes in stored text ------------------------------------------------------------


def _plant(tmp_path: Path, thread_id: str) -> None:
    """Store steering text the way a client that skips the façade could (LangGraph Server, SDK,
    or an older version of this app): in a title, messages, the summary, the remembered
    profile and a user's display name."""
    with SupportDesk.open(saver="sqlite", sqlite_path=_db(tmp_path)) as desk:
        desk.threads.set_title(thread_id, STEERING)
        desk.graph.update_state(thread_config(thread_id), {
            "messages": [HumanMessage(STEERING), AIMessage(STEERING)], "summary": STEERING,
        }, as_node="agent")
        desk.persistence.store.put(profile_namespace("acme", "alice"), PROFILE_KEY,
                                   {"name": "\x1b[31mEve\x1b[0m"})
        desk.persistence.db.execute(
            "UPDATE support_users SET display_name = ? WHERE user_id = 'alice'", (STEERING,))


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    """No control character reached the terminal; the words around them did."""
    assert result.returncode == 0, result.stdout + result.stderr
    for char in CONTROLS:
        assert char not in result.stdout + result.stderr, (char, result.stdout)


def test_escape_sequences_in_stored_text_never_reach_the_terminal(sqlite_cli: Cli,
                                                                  tmp_path: Path):
    """show, threads, approvals, history, ask and chat print stored text defused."""
    thread_id = sqlite_cli.ask("alice", REFUND_REQUEST)["thread_id"]
    other = sqlite_cli.ask("alice", "list my orders")["thread_id"]
    _plant(tmp_path, other)

    shown = sqlite_cli.run("show", "--user", "alice", other)
    assert_clean(shown)
    assert "before" in shown.stdout and "link" in shown.stdout and "red" in shown.stdout
    assert "after" in shown.stdout and "summary:" in shown.stdout

    listed = sqlite_cli.run("threads", "--user", "alice")
    assert_clean(listed)
    assert "before" in listed.stdout

    queue = sqlite_cli.run("approvals", "--user", "sam")
    assert_clean(queue)
    assert thread_id[:12] in queue.stdout and "before" in queue.stdout

    for args in (("history", "--user", "alice", other), ("show", "--user", "sam", other)):
        assert_clean(sqlite_cli.run(*args))

    streamed = sqlite_cli.run("ask", "--user", "alice", "What's my name?")
    assert_clean(streamed)
    assert "Your name is Eve." in streamed.stdout

    chatted = sqlite_cli.run("chat", "--user", "alice", input="What's my name?\n/quit\n")
    assert_clean(chatted)
    assert "Signed in as before" in chatted.stdout
    assert "Your name is Eve." in chatted.stdout


# --- messages that fit who reads them -----------------------------------------------------------


def test_resume_all_by_a_customer_says_it_is_for_supervisors(sqlite_cli: Cli):
    """A customer's `resume --all` is told what --all is and how to resume their own thread."""
    line = sqlite_cli.fails("resume", "--user", "alice", "--all")
    assert "approval" not in line
    assert "--all" in line and "supervisor" in line
    assert "resume --user alice THREAD" in line


def test_missing_sqlite_folder_is_one_line_and_creates_nothing(tmp_path: Path):
    """SUPPORT_SQLITE_PATH under a folder that does not exist names that folder; exit 2."""
    deep = tmp_path / "mnt" / "volume" / "support.db"
    cli = Cli({"SUPPORT_SAVER": "sqlite", "SUPPORT_SQLITE_PATH": str(deep)}, tmp_path)
    line = cli.fails("ask", "--user", "alice", "hello")
    assert "SUPPORT_SQLITE_PATH" in line and f"{tmp_path / 'mnt'} does not exist" in line
    assert not (tmp_path / "mnt").exists()
    # Its own folder is still made for the file, as for the default data/ on a fresh checkout.
    shallow = Cli({"SUPPORT_SAVER": "sqlite",
                   "SUPPORT_SQLITE_PATH": str(tmp_path / "data" / "support.db")}, tmp_path)
    turn_line(shallow.ok("ask", "--user", "alice", "hello").stdout)
    assert (tmp_path / "data" / "support.db").is_file()
