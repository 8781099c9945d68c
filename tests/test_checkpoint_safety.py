"""Loading a checkpoint runs no code: a constructor planted in a stored row is refused.

Each test writes a real thread (messages, tool calls, an approval interrupt, a supervisor's
Command resume, a summary), then plants a msgpack "gadget" (an extension value naming
`os.system` or `subprocess.Popen` with a command that creates a marker file) into the real
SQLite file or PostgreSQL database, the way someone with write access to the database could.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ormsgpack
import psycopg
import pytest
from test_cli import Cli, assert_one_error_line, sqlite_env

from agent.errors import SupportError
from agent.persistence.serde import CheckpointRefused
from agent.service import SupportDesk, collect
from agent.settings import Settings

OPTION = ormsgpack.OPT_NON_STR_KEYS
SETTINGS = {"summary_trigger_messages": 6, "summary_keep_messages": 4}


class Raw:
    """A msgpack extension value kept as stored (code and bytes), never built."""

    def __init__(self, code: int, data: bytes):
        self.code, self.data = code, data


def _raw(blob: bytes) -> Any:
    """Decode msgpack without building any object: extension values stay as they are."""
    return ormsgpack.unpackb(blob, ext_hook=Raw, option=OPTION)


def _pack(value: Any) -> bytes:
    return ormsgpack.packb(value, default=lambda raw: ormsgpack.Ext(raw.code, raw.data),
                           option=OPTION)


def _gadget(kind: str, marker: Path) -> Raw:
    """An extension value LangGraph's permissive loader would call on load."""
    if kind == "os.system":  # EXT_CONSTRUCTOR_SINGLE_ARG: module, name, arg
        return Raw(0, _pack(["os", "system", f"touch {marker}"]))
    # EXT_CONSTRUCTOR_POS_ARGS: module, name, args
    return Raw(1, _pack(["subprocess", "Popen", [["touch", str(marker)]]]))


def _plant_in_messages(messages: list, gadget: Raw, *, nested: bool) -> list:
    """Append the gadget to a message list, or hide it inside the last message's fields."""
    if not nested or not messages:  # a thread's first checkpoint has no messages yet
        return [*messages, gadget]
    last = messages[-1]
    module, name, fields, *rest = _raw(last.data)
    fields["additional_kwargs"] = {"note": gadget}
    return [*messages[:-1], Raw(last.code, _pack([module, name, fields, *rest]))]


def _plant_sqlite(path: Path, thread_id: str, plant: Callable[[list], list]) -> int:
    """Rewrite the messages of every checkpoint row of the thread; return rows changed."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT rowid, checkpoint FROM checkpoints WHERE thread_id = ?",
                            (thread_id,)).fetchall()
        for rowid, blob in rows:
            checkpoint = _raw(blob)
            values = checkpoint["channel_values"]
            values["messages"] = plant(values.get("messages", []))
            conn.execute("UPDATE checkpoints SET checkpoint = ? WHERE rowid = ?",
                         (_pack(checkpoint), rowid))
        conn.commit()
        return len(rows)
    finally:
        conn.close()


def _plant_postgres(url: str, thread_id: str, plant: Callable[[list], list]) -> int:
    """Rewrite every stored version of the thread's messages channel; return rows changed."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT version, blob FROM checkpoint_blobs WHERE thread_id = %s "
                            "AND channel = 'messages' AND type = 'msgpack'",
                            (thread_id,)).fetchall()
        for version, blob in rows:
            conn.execute("UPDATE checkpoint_blobs SET blob = %s WHERE thread_id = %s "
                         "AND channel = 'messages' AND version = %s",
                         (_pack(plant(_raw(blob))), thread_id, version))
        return len(rows)


def _plant(settings: Settings, thread_id: str, plant: Callable[[list], list]) -> None:
    if settings.saver == "sqlite":
        changed = _plant_sqlite(settings.sqlite_path, thread_id, plant)
    else:
        changed = _plant_postgres(settings.postgres_url, thread_id, plant)
    assert changed, "the thread has stored checkpoints to plant into"


def _everything_thread(desk: SupportDesk) -> tuple[str, str]:
    """A decided thread (tool calls, Command resume, summary) and one waiting on approval."""
    thread = desk.ask("alice", "My name is Alice").thread_id
    for text in ("Where is ORD-1002?", "list my orders", "Please refund ORD-1001, the boots leak"):
        desk.ask("alice", text, thread_id=thread)
    collect(desk.decide_approval("sam", thread, {"action": "edit", "arguments": {"amount": 5}}))
    desk.ask("alice", "What is your return policy?", thread_id=thread)
    waiting = desk.ask("alice", "Cancel ORD-1003 please")
    assert waiting.status == "awaiting_approval"
    return thread, waiting.thread_id


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def persistent_settings(request: pytest.FixtureRequest, make_settings) -> Settings:
    """Settings on a real file or database, summarising early so a summary is stored."""
    return make_settings(request.param, **SETTINGS)


def test_normal_threads_load_in_full(persistent_settings: Settings) -> None:
    """Messages, tool calls, interrupts, summaries and resumes all load with the allow-list."""
    with SupportDesk.open(persistent_settings) as desk:
        thread, waiting = _everything_thread(desk)
    with SupportDesk.open(persistent_settings) as desk:  # a new process would start here
        view = desk.view_thread("alice", thread)
        assert "The customer's name is Alice." in view.summary
        assert any(m.tool_calls for m in view.messages)
        assert any(m.role == "tool" for m in view.messages)
        for info in desk.history("alice", thread, limit=200):
            desk.state_at("alice", thread, info.checkpoint_id)
        assert desk.export_thread("alice", thread)["thread"]
        [pending] = desk.pending_approvals("sam")
        assert (pending.thread_id, pending.action) == (waiting, "cancel_order")
        result = collect(desk.decide_approval("sam", waiting, {"action": "approve"}))
        assert result.status == "active"
        assert desk.ask("alice", "What's my name?", thread_id=thread).reply == \
            "Your name is Alice."


@pytest.mark.parametrize("kind", ["os.system", "subprocess.Popen"])
@pytest.mark.parametrize("nested", [False, True], ids=["in-list", "inside-a-message"])
def test_planted_gadget_is_refused_and_never_runs(persistent_settings: Settings, tmp_path: Path,
                                                  kind: str, nested: bool) -> None:
    """The thread cannot be read (a clear error naming the callable); the code never runs."""
    marker = tmp_path / "gadget-ran"
    with SupportDesk.open(persistent_settings) as desk:
        thread, _ = _everything_thread(desk)
    gadget = _gadget(kind, marker)
    _plant(persistent_settings, thread,
           lambda messages: _plant_in_messages(messages, gadget, nested=nested))

    with SupportDesk.open(persistent_settings) as desk:
        with pytest.raises(CheckpointRefused, match=kind.replace(".", r"\.")) as refused:
            desk.view_thread("alice", thread)
        assert isinstance(refused.value, SupportError) and refused.value.exit_code == 2
        with pytest.raises(CheckpointRefused):
            desk.ask("alice", "hello again", thread_id=thread)
        with pytest.raises(CheckpointRefused):
            desk.history("alice", thread)
    assert not marker.exists(), "the planted command ran"


def test_pickled_checkpoint_is_refused(make_settings, tmp_path: Path) -> None:
    """A row stored as pickle (never written by the app) is refused, not unpickled."""
    settings = make_settings("sqlite")
    marker = tmp_path / "pickle-ran"

    class Gadget:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    with SupportDesk.open(settings) as desk:
        thread = desk.ask("alice", "hello").thread_id
    conn = sqlite3.connect(settings.sqlite_path)
    conn.execute("UPDATE checkpoints SET type = 'pickle', checkpoint = ? WHERE thread_id = ?",
                 (pickle.dumps(Gadget()), thread))
    conn.commit()
    conn.close()
    with SupportDesk.open(settings) as desk, pytest.raises(CheckpointRefused, match="pickle"):
        desk.view_thread("alice", thread)
    assert not marker.exists()


def test_cli_reports_a_planted_gadget_in_one_line(tmp_path: Path) -> None:
    """The command line: one `error:` line naming the callable, exit 2, nothing run."""
    cli = Cli(sqlite_env(tmp_path), tmp_path)
    marker = tmp_path / "cli-gadget-ran"
    thread = cli.ask("alice", "hello")["thread_id"]
    gadget = _gadget("os.system", marker)
    changed = _plant_sqlite(tmp_path / "data" / "cli.db", thread,
                            lambda messages: _plant_in_messages(messages, gadget, nested=True))
    assert changed
    result = cli.run("show", "--user", "alice", thread)
    assert result.returncode == 2, result.stderr
    assert_one_error_line(result)
    assert "os.system" in result.stderr
    assert not marker.exists()
