"""`support-agent demo crash-resume`: kill a conversation mid-flight, resume it in a new process.

The demo runs the scripted conversation (agent/demos/script.py) in a child process with
SUPPORT_CRASH_AT set, narrates it live, shows the checkpoints that reached the database when
the child was killed, starts a second process that resumes from the last checkpoint and
finishes, and shows the ledger: the refund happened exactly once. On the memory saver it
shows what was lost instead. Everything goes through the SupportDesk façade; the demo uses a
fresh database of its own (a temporary SQLite file, or a new PostgreSQL database next to the
configured one) so it never touches real data.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.demos.script import SCRIPT, SCRIPT_SETTINGS, Step
from agent.errors import ConfigError, NotFound
from agent.service import SupportDesk
from agent.settings import Settings

SUPERVISOR = "sam"


def run_demo(settings: Settings, *, crash_at: str, keep: bool, console: Console) -> int:
    """Run the narrated demo on `settings.saver`; return the exit code."""
    from agent.crash import parse_crash_point

    try:
        parse_crash_point(crash_at)
    except ValueError as exc:
        raise ConfigError(f"bad --at {crash_at!r}: {exc}") from None
    started = time.monotonic()

    def say(text: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:6.2f}s[/] {text}")

    with _demo_database(settings, keep, say) as demo_settings:
        progress = Path(tempfile.mkdtemp(prefix="crash-resume-")) / "progress.json"
        console.rule(f"crash-and-resume on {demo_settings.saver}: kill at {crash_at}")
        first = _spawn(demo_settings, progress, crash_at)
        say(f"started process [bold]PID {first.pid}[/] with SUPPORT_CRASH_AT={crash_at}")
        heard = _narrate(first, say)
        stderr = first.stderr.read() if first.stderr else ""
        first.wait()
        if first.returncode != -signal.SIGKILL:
            say(f"[red]the process ended with code {first.returncode} without reaching "
                f"{crash_at}[/]\n{escape(stderr)}")
            return 1
        say(f"[bold red]KILLED[/] PID {first.pid} with SIGKILL at [bold]{crash_at}[/] "
            "(no cleanup, no goodbye)")

        thread_id = json.loads(progress.read_text())["thread_id"]
        killed_in = next((e["index"] for e in reversed(heard) if e["event"] == "step"), None)
        with SupportDesk.open(demo_settings) as desk:
            if demo_settings.saver == "memory":
                return _show_loss(desk, thread_id, heard, say, console)
            _show_checkpoints(desk, thread_id, console, say)
            continuing = None if killed_in is None else \
                (killed_in, _continuation(desk, thread_id, SCRIPT[killed_in]))

        second = _spawn(demo_settings, progress, None)
        say(f"started a new process [bold]PID {second.pid}[/] on the same database")
        _narrate(second, say, continuing)
        second.wait()
        if second.returncode != 0:
            say(f"[red]the resuming process failed (code {second.returncode})[/]")
            return 1

        with SupportDesk.open(demo_settings) as desk:
            _show_outcome(desk, thread_id, console, say)
    return 0


@contextmanager
def _demo_database(settings: Settings, keep: bool, say) -> Iterator[Settings]:
    """Settings for a fresh database of the demo's own, removed afterwards unless `keep`."""
    base = {**settings.model_dump(), **SCRIPT_SETTINGS, "crash_at": None}
    if settings.saver == "memory":
        yield Settings(**base)
        return
    if settings.saver == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="support-demo-"))
        say(f"demo database: SQLite file {folder / 'demo.db'}")
        try:
            yield Settings(**{**base, "sqlite_path": folder / "demo.db"})
        finally:
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"support_demo_{secrets.token_hex(4)}"
    server = settings.postgres_url.rsplit("/", 1)[0]
    with psycopg.connect(settings.postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    say(f"demo database: PostgreSQL database {name}")
    try:
        # A new PostgreSQL database starts without the demo shop; the demo's own one gets it.
        demo = Settings(**{**base, "postgres_url": f"{server}/{name}", "seed_demo": True})
        SupportDesk.open(demo).close()
        yield demo
    finally:
        if not keep:
            with psycopg.connect(settings.postgres_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _spawn(settings: Settings, progress: Path, crash_at: str | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    env.update({"SUPPORT_SAVER": settings.saver, "SUPPORT_SQLITE_PATH": str(settings.sqlite_path),
                "SUPPORT_POSTGRES_URL": settings.postgres_url, "SUPPORT_MODEL": settings.model})
    if settings.redis_url:
        env["SUPPORT_REDIS_URL"] = settings.redis_url
    if crash_at:
        env["SUPPORT_CRASH_AT"] = crash_at
    return subprocess.Popen([sys.executable, "-m", "agent.demos.script", "--progress",
                             str(progress)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _narrate(process: subprocess.Popen, say,
             continuing: tuple[int, str] | None = None) -> list[dict[str, Any]]:
    """Print the child's events as they happen; return them.

    `continuing` is the step the killed process was in and what the new one does about it:
    that step is not announced again as if it happened twice.
    """
    heard = []
    speaking: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        event = json.loads(line)
        heard.append(event)
        kind = event["event"]
        if kind == "step" and continuing and event["index"] == continuing[0]:
            say(f"[cyan]continuing step {event['index'] + 1}, which the killed process was "
                f"in:[/] {escape(continuing[1])}")
        elif kind == "step":
            say(f"[cyan]{escape(SCRIPT[event['index']].describe)}[/]")
        elif kind == "resume":
            say(f"[bold green]resumed from checkpoint {event['checkpoint_id']} at step "
                f"{event['step']}[/] (registry said {event['thread_status']}; next: "
                f"{', '.join(event['next'])})")
        elif kind == "TokenEvent":
            speaking.append(event["text"])
        elif kind == "ToolCallEvent":
            note = " - needs a supervisor" if event["needs_approval"] else ""
            say(f"  [dim]calls {event['name']}({escape(json.dumps(event['arguments']))}){note}[/]")
        elif kind == "ToolResultEvent":
            say(f"  [dim]{event['name']} -> {escape(event['text'].splitlines()[0])}[/]")
        elif kind == "HousekeepingEvent":
            say(f"  [dim]{event['kind']}: {event['removed_messages']} older messages folded "
                "away[/]")
        elif kind == "ApprovalRequestedEvent":
            say(f"  [yellow]waiting for a supervisor: {event['approval']['action']}[/]")
        elif kind == "TurnEndedEvent":
            if speaking:
                say(f"  [green]assistant:[/] {escape(''.join(speaking))}")
                speaking.clear()
            say(f"  [dim]turn saved; thread {event['status']}, head checkpoint "
                f"{event['checkpoint_id']}[/]")
        elif kind == "error":
            say(f"[red]{escape(event['message'])}[/]")
    return heard


def _show_checkpoints(desk: SupportDesk, thread_id: str, console: Console, say) -> None:
    view = desk.view_thread(SUPERVISOR, thread_id)
    history = desk.history(SUPERVISOR, thread_id, limit=8)
    say(f"what reached the database: thread {thread_id} now shows status "
        f"[bold]{view.thread.status}[/]; its newest checkpoints:")
    table = Table("checkpoint", "step", "written by", "next", "messages")
    for info in history:
        table.add_row(info.checkpoint_id, str(info.step), ", ".join(info.written_by),
                      ", ".join(info.next_nodes) or "-", str(info.message_count))
    console.print(table)
    refunds = [e for e in desk.ledger(SUPERVISOR) if e["kind"] == "refund"]
    recorded = _checkpointed_tool_calls(desk, thread_id)
    unrecorded = [e for e in refunds if e["idempotency_key"].split(":", 1)[-1] not in recorded]
    if unrecorded:
        note = " - written by the killed process, its checkpoint was not"
    elif refunds:
        note = ", recorded in a checkpoint before the kill"
    else:
        note = ""
    say(f"ledger at this moment: {len(refunds)} refund(s){note}")


def _checkpointed_tool_calls(desk: SupportDesk, thread_id: str) -> set[str]:
    """Ids of the tool calls whose result is in some checkpoint of the thread."""
    # Every checkpoint, not only the head: pruning or summarising may since have folded the
    # tool's result away, and it still was written.
    return {message["data"].get("tool_call_id")
            for checkpoint in desk.export_thread(SUPERVISOR, thread_id)["checkpoints"]
            for message in checkpoint["values"]["messages"] if message["type"] == "tool"}


def _continuation(desk: SupportDesk, thread_id: str, step: Step) -> str:
    """What the new process does with the step the killed one was in, as the script decides."""
    view = desk.view_thread(SUPERVISOR, thread_id)
    if step.decision:
        if view.pending_approvals:
            return (f"{step.actor}'s decision never reached the database, so it is submitted "
                    f"again - {step.describe}")
        return (f"{step.actor}'s decision ({step.decision['action']}) is already in a "
                "checkpoint, so it is not taken again; the new process finishes the work after "
                "it")
    said = [m.text for m in view.messages if m.role == "customer"]
    if said and said[-1] == step.text:
        return (f"{step.actor}'s message is already in a checkpoint, so it is not sent again; "
                "the new process finishes its turn")
    return f"{step.actor}'s message never reached the database, so it is sent again - " \
        f"{step.describe}"


def _show_outcome(desk: SupportDesk, thread_id: str, console: Console, say) -> None:
    view = desk.view_thread(SUPERVISOR, thread_id)
    ledger = desk.ledger(SUPERVISOR)
    say(f"conversation finished: thread {view.thread.status}, "
        f"{len(desk.history(SUPERVISOR, thread_id, limit=200))} checkpoints")
    table = Table("reference", "order", "kind", "amount", "idempotency key")
    for entry in ledger:
        table.add_row(entry["reference"], entry["order_id"], entry["kind"],
                      f"${entry['amount_cents'] / 100:,.2f}", entry["idempotency_key"])
    console.print(table)
    refunds = [e for e in ledger if e["kind"] == "refund"]
    say(f"[bold]{len(refunds)} refund[/] in the ledger: "
        + ("exactly once." if len(refunds) == 1 else "[red]NOT exactly once![/]"))
    say(f"last reply: {escape(view.messages[-1].text)}")


def _show_loss(desk: SupportDesk, thread_id: str, heard: list[dict[str, Any]], say,
               console: Console) -> int:
    replies = [e["reply"] for e in heard if e["event"] == "TurnEndedEvent" and e["reply"]]
    try:
        desk.view_thread(SUPERVISOR, thread_id)
        say("[red]unexpected: the thread survived[/]")
        return 1
    except NotFound:
        pass
    remembered = desk.remembered_profile("alice")
    ledger = desk.ledger(SUPERVISOR)
    say(f"[bold red]lost[/]: the memory saver kept thread {thread_id} only inside PID "
        f"{heard[0]['pid'] if heard else '?'}. The new process finds no thread, "
        f"{'no' if not remembered else 'a'} remembered name and {len(ledger)} ledger entries. "
        f"Gone with it, {len(replies)} acknowledged replies:")
    for reply in replies:
        console.print(f"   - {escape(reply)}")
    say("with SUPPORT_SAVER=sqlite or postgres the same crash loses nothing.")
    return 0



