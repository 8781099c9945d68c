"""`support-agent`: thin commands over the SupportDesk façade (parse, call, print)."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from agent.errors import InvalidInput, NotAllowed, SupportError
from agent.service import SupportDesk, collect
from agent.settings import COMMAND_LINE_SETTINGS, Settings, load_settings
from agent.text import for_terminal
from agent.views import (
    ApprovalRequestedEvent,
    ChatEvent,
    HousekeepingEvent,
    TokenEvent,
    ToolCallEvent,
    ToolResultEvent,
    TurnEndedEvent,
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

SETTING_FLAGS = COMMAND_LINE_SETTINGS  # settings names these flags in its errors, so one list


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `support-agent` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings(**{k: getattr(args, k, None) for k in SETTING_FLAGS})
    except SupportError as exc:
        if args.handler is cmd_doctor:  # doctor reports a bad setting as its first check
            out.print(f"[red]FAIL[/] config    {shown(str(exc))}")
            return 1
        err.print(f"[bold red]error:[/] {shown(str(exc))}")
        return exc.exit_code
    try:
        return args.handler(settings, args) or 0
    except SupportError as exc:
        err.print(f"[bold red]error:[/] {shown(str(exc))}")
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: settings flags are accepted before or after the command."""
    common = argparse.ArgumentParser(add_help=False)
    for name, help_text in SETTING_FLAGS.items():
        common.add_argument(f"--{name.replace('_', '-')}", dest=name, help=help_text,
                            default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="support-agent", parents=[common],
                                     description="A customer-support agent on LangGraph.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    def user_arg(sub: argparse.ArgumentParser, role: str = "user") -> None:
        example = "sam" if role == "supervisor" else "alice"
        sub.add_argument("--user", "-u", required=True,
                         help=f"the signed-in {role} (e.g. {example})")

    sub = command("chat", cmd_chat, "Chat interactively (/new starts a thread, /quit leaves).")
    user_arg(sub)
    sub.add_argument("--thread", "-t", help="continue this thread")

    sub = command("ask", cmd_ask, "Send one message; print the reply and the thread id.")
    user_arg(sub)
    sub.add_argument("--thread", "-t", help="continue this thread (default: a new one)")
    sub.add_argument("--json", action="store_true", help="print one JSON object instead")
    sub.add_argument("message")

    sub = command("threads", cmd_threads, "List your threads, newest activity first.")
    user_arg(sub)
    sub.add_argument("--limit", type=int, default=20)
    sub.add_argument("--offset", type=int, default=0)
    sub.add_argument("--json", action="store_true")

    sub = command("show", cmd_show, "Print a thread's messages and summary.")
    user_arg(sub)
    sub.add_argument("thread")

    sub = command("rename", cmd_rename, "Rename a thread.")
    user_arg(sub)
    sub.add_argument("thread")
    sub.add_argument("title")

    sub = command("delete", cmd_delete, "Delete a thread and its checkpoints.")
    user_arg(sub)
    sub.add_argument("thread")

    sub = command("history", cmd_history, "List a thread's checkpoints, newest first.")
    user_arg(sub)
    sub.add_argument("thread")
    sub.add_argument("--limit", type=int, default=20)
    sub.add_argument("--before", help="checkpoint id: list the page after it")
    sub.add_argument("--json", action="store_true")

    sub = command("replay", cmd_replay, "Run a thread again from one of its checkpoints.")
    user_arg(sub)
    sub.add_argument("thread")
    sub.add_argument("checkpoint")

    sub = command("fork", cmd_fork, "Edit the customer message at a checkpoint; new branch.")
    user_arg(sub)
    sub.add_argument("thread")
    sub.add_argument("checkpoint")
    sub.add_argument("message")

    sub = command("export", cmd_export, "Write a thread's whole history as JSON.")
    user_arg(sub)
    sub.add_argument("thread")
    sub.add_argument("--output", "-o", help="file to write (default: standard output)")

    sub = command("approvals", cmd_approvals, "List actions waiting for a supervisor.")
    user_arg(sub, "supervisor")
    sub.add_argument("--json", action="store_true")

    for name, handler, help_text in (
        ("approve", cmd_approve, "Approve the action a thread waits on (--set edits arguments)."),
        ("reject", cmd_reject, "Reject the action a thread waits on, with a reason."),
    ):
        sub = command(name, handler, help_text)
        user_arg(sub, "supervisor")
        sub.add_argument("thread")
        sub.add_argument("--interrupt", help="the request id shown by `approvals`")
        if name == "approve":
            sub.add_argument("--set", action="append", default=[], metavar="ARG=VALUE",
                             help="change an argument before approving, e.g. --set amount=20")
        else:
            sub.add_argument("--reason", required=True, help="told to the customer")

    from agent.cli_audit import HELP as AUDIT_HELP
    from agent.cli_audit import add_audit_arguments, cmd_audit

    sub = command("audit", cmd_audit, AUDIT_HELP)
    user_arg(sub, "supervisor")
    add_audit_arguments(sub)

    from agent.cli_analytics import HELP as ANALYTICS_HELP
    from agent.cli_analytics import add_analytics_arguments, cmd_analytics

    add_analytics_arguments(command("analytics", cmd_analytics, ANALYTICS_HELP), common)

    from agent.cli_bench import HELP as BENCH_HELP
    from agent.cli_bench import add_bench_arguments, cmd_bench

    add_bench_arguments(command("bench", cmd_bench, BENCH_HELP))

    from agent.cli_gc import HELP as GC_HELP
    from agent.cli_gc import add_gc_arguments, cmd_gc

    add_gc_arguments(command("gc", cmd_gc, GC_HELP))

    sub = command("resume", cmd_resume, "Finish the work a crash left pending on a thread.")
    user_arg(sub, "thread owner or supervisor")
    sub.add_argument("thread", nargs="?", help="the thread (omit with --all)")
    sub.add_argument("--all", action="store_true",
                     help="resume every interrupted thread of the supervisor's tenant")

    sub = command("demo", cmd_demo, "Run a live demonstration.")
    sub.add_argument("name", choices=["crash-resume"])
    sub.add_argument("--at", default="tool:issue_refund", metavar="POINT",
                     help="where to kill the first process (default: tool:issue_refund, just "
                          "after the refund is written)")
    sub.add_argument("--keep", action="store_true", help="keep the demo database afterwards")

    sub = command("ledger", cmd_ledger, "Show refunds, cancellations and address changes.")
    user_arg(sub)
    sub.add_argument("--json", action="store_true")

    sub = command("seed", cmd_seed, "Add the demo shop (--demo): users, orders; idempotent.")
    sub.add_argument("--demo", action="store_true",
                     help="the demo customers, supervisors and orders (alice, bob, sam...)")

    sub = command("users", cmd_users, "List, add, change or disable the users who sign in.")
    sub.add_argument("--json", action="store_true", help="print one JSON array instead")
    actions = sub.add_subparsers(title="actions (bare `users` lists)", metavar="ACTION")

    def action(name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        act = actions.add_parser(name, parents=[common], help=help_text, description=help_text)
        act.set_defaults(handler=handler)
        return act

    act = action("list", cmd_users, "List every user, disabled ones marked.")
    act.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                     help="print one JSON array instead")
    act = action("add", cmd_users_add, "Add a user.")
    act.add_argument("user_id", metavar="USER_ID", help="lower-case id used to sign in, e.g. "
                     "frank")
    act.add_argument("--name", required=True, help="display name, e.g. 'Frank Ocean'")
    act.add_argument("--email", required=True,
                     help="e-mail address; an identity provider's sign-in is matched by it")
    act.add_argument("--role", required=True, metavar="ROLE", help="customer or supervisor")
    act.add_argument("--tenant", required=True, help="the tenant (shop) they belong to, e.g. "
                     "acme")
    act = action("set-role", cmd_users_set_role, "Make a user a customer or a supervisor.")
    act.add_argument("user_id", metavar="USER_ID")
    act.add_argument("role", metavar="ROLE", help="customer or supervisor")
    for name, handler, help_text in (
        ("disable", cmd_users_disable, "Disable an account: every action of it is refused."),
        ("enable", cmd_users_enable, "Enable a disabled account again."),
    ):
        action(name, handler, help_text).add_argument("user_id", metavar="USER_ID")
    act = action("token", cmd_users_token, "Print a new API token for LangGraph Server (once).")
    act.add_argument("user_id", metavar="USER_ID")
    act.add_argument("--revoke", action="store_true", help="revoke every token of this user")

    command("doctor", cmd_doctor, "Check configuration, database, Redis and model.")

    from exercises.cli import add_exercises_arguments, add_grade_arguments

    add_exercises_arguments(command("exercises", cmd_exercises,
                                    "The graded course unit: start a workspace, list the tasks."))
    add_grade_arguments(command("grade", cmd_grade,
                                "Grade your exercise workspace (or --solutions)."))

    sub = command("ui", cmd_ui, "Run the Streamlit app.")
    sub.add_argument("--port", type=int, default=8501)
    return parser


# --- commands ---------------------------------------------------------------------------------


def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        events = desk.send_message(args.user, args.message, thread_id=args.thread)
        if args.json:
            result = collect(events)
            print(json.dumps({
                "thread_id": result.thread_id, "status": result.status, "reply": result.reply,
                "pending_approvals": [asdict(p) for p in result.pending_approvals],
            }))
        else:
            print_turn(events)
    return 0


def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    # Bytes that are not UTF-8 arrive as lone surrogates, as in argv, so that the desk can say
    # which character was wrong instead of the read failing with a traceback.
    if isinstance(sys.stdin, io.TextIOWrapper):  # not when a caller swapped stdin for a StringIO
        sys.stdin.reconfigure(errors="surrogateescape")
    with SupportDesk.open(settings) as desk:
        user = desk.user(args.user)
        thread_id = args.thread
        out.print(f"Signed in as {shown(user.display_name)} ({shown(user.tenant)}). "
                  "/new starts a thread, /quit leaves.")
        while True:
            try:
                text = out.input("[bold cyan]you>[/] ")
            except EOFError:
                return 0
            if text.strip() in ("/quit", "/exit"):
                return 0
            if text.strip() == "/new":
                thread_id = None
                out.print("(a new thread starts with your next message)")
                continue
            try:
                end = print_turn(desk.send_message(args.user, text, thread_id=thread_id))
            except SupportError as exc:
                err.print(f"[bold red]error:[/] {shown(str(exc))}")
                continue
            thread_id = end.thread_id
            if end.status == "awaiting_approval":
                wait_for_decision(desk, args.user, thread_id)


def wait_for_decision(desk: SupportDesk, user_id: str, thread_id: str) -> None:
    """Poll until a supervisor decides, then print what the assistant said."""
    seen = len(desk.view_thread(user_id, thread_id).messages)
    with out.status("waiting for a supervisor (Ctrl-C to stop waiting)..."):
        try:
            while (view := desk.view_thread(user_id, thread_id)).thread.status == \
                    "awaiting_approval":
                time.sleep(1.0)
        except KeyboardInterrupt:
            return
    for message in view.messages[seen:]:
        if message.role == "assistant" and message.text:
            out.print(f"[bold green]assistant>[/] {shown(message.text)}")


def cmd_threads(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        page = desk.list_threads(args.user, limit=args.limit, offset=args.offset)
    if args.json:
        print(json.dumps({"total": page.total, "threads": [asdict(t) for t in page.threads]}))
        return 0
    table = Table(_id_column("thread"), "title", "status", "last activity",
                  title=f"{page.total} threads (showing {len(page.threads)} from {page.offset})")
    for t in page.threads:
        table.add_row(shown(t.thread_id), shown(t.title), t.status, _when(t.updated_at))
    out.print(table)
    return 0


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        view = desk.view_thread(args.user, args.thread)
    out.print(f"[bold]{shown(view.thread.title)}[/] ({view.thread.status})")
    if view.summary:
        out.print(f"[dim]summary:\n{shown(view.summary)}[/]")
    for message in view.messages:
        if message.role == "tool":
            out.print(f"  [dim]{shown(message.tool_name or '')} -> {shown(message.text)}[/]")
        elif message.tool_calls:
            for call in message.tool_calls:
                out.print(f"  [dim]calls {shown(call['name'])}"
                          f"({escape(json.dumps(call['args']))})[/]")
        else:
            out.print(f"[bold]{message.role}>[/] {shown(message.text)}")
    for pending in view.pending_approvals:
        out.print(f"[yellow]waiting for approval: {shown(pending.action)} "
                  f"{escape(json.dumps(pending.arguments))}[/]")
        if pending.summary:
            out.print(f"[yellow]  {shown(pending.summary)}[/]")
    return 0


def cmd_rename(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        record = desk.rename_thread(args.user, args.thread, args.title)
    out.print(f"renamed {record.thread_id}: {shown(record.title)}")
    return 0


def cmd_delete(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        desk.delete_thread(args.user, args.thread)
    out.print(f"deleted {args.thread}")
    return 0


def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        page = desk.history(args.user, args.thread, limit=args.limit, before=args.before)
    if args.json:
        print(json.dumps([asdict(c) for c in page]))
        return 0
    table = Table(_id_column("checkpoint"), "step", "source", "written by", "next", "messages",
                  "bytes", "time")
    for c in page:
        table.add_row(shown(c.checkpoint_id), str(c.step), shown(c.source),
                      shown(", ".join(c.written_by)), shown(", ".join(c.next_nodes) or "-"),
                      str(c.message_count), f"{c.size_bytes:,}",
                      c.created_at[:19].replace("T", " "))
    out.print(table)
    if len(page) == args.limit:
        out.print(f"[dim]more: --before {page[-1].checkpoint_id}[/]")
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        print_turn(desk.replay(args.user, args.thread, args.checkpoint))
    return 0


def cmd_fork(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        print_turn(desk.fork(args.user, args.thread, args.checkpoint, args.message))
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        data = desk.export_thread(args.user, args.thread)
    text = json.dumps(data, indent=2, default=str)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        err.print(f"wrote {len(data['checkpoints'])} checkpoints to {shown(args.output)}")
    else:
        print(text)
    return 0


def cmd_approvals(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        pending = desk.pending_approvals(args.user)
    if args.json:
        print(json.dumps([asdict(p) for p in pending]))
        return 0
    if not pending:
        out.print("nothing is waiting for approval")
        return 0
    table = Table(_id_column("thread"), "customer", "request", "arguments", "waiting",
                  _id_column("request id"))
    for p in pending:
        # The tool describes the request (label, order, amount, status); a request the order
        # can no longer take is flagged before the supervisor approves it.
        request = shown(p.summary or p.label or p.action)
        if p.ineligible:
            request += f" [red](not possible now: {shown(p.ineligible)})[/]"
        table.add_row(p.thread_id, shown(p.customer_name), request,
                      escape(json.dumps(p.arguments)),
                      f"{max(0, time.time() - p.requested_at):.0f}s", p.interrupt_id)
    out.print(table)
    return 0


def cmd_approve(settings: Settings, args: argparse.Namespace) -> int:
    edits = dict(_parse_assignment(item) for item in args.set)
    decision = {"action": "edit", "arguments": edits} if edits else {"action": "approve"}
    return _decide(settings, args, decision)


def cmd_reject(settings: Settings, args: argparse.Namespace) -> int:
    return _decide(settings, args, {"action": "reject", "reason": args.reason})


def _decide(settings: Settings, args: argparse.Namespace, decision: dict[str, Any]) -> int:
    with SupportDesk.open(settings) as desk:
        print_turn(desk.decide_approval(args.user, args.thread, decision,
                                        interrupt_id=args.interrupt))
    return 0


def cmd_resume(settings: Settings, args: argparse.Namespace) -> int:
    if bool(args.thread) == bool(args.all):
        raise InvalidInput("name one THREAD, or use --all (as a supervisor)")
    with SupportDesk.open(settings) as desk:
        if args.thread:
            print_turn(desk.resume(args.user, args.thread))
            return 0
        user = desk.user(args.user)
        if not user.is_supervisor:
            raise NotAllowed(f"{user.user_id} is not a supervisor: --all resumes every "
                             "interrupted thread of a tenant, which only a supervisor may do; "
                             f"resume your own thread with `resume --user {user.user_id} "
                             "THREAD`")
        threads = desk.interrupted_threads(args.user)
        if not threads:
            out.print("no thread has unfinished work")
        for record in threads:
            out.print(f"resuming {record.thread_id} ({shown(record.title)})")
            print_turn(desk.resume(args.user, record.thread_id))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from agent.demos.crash_resume import run_demo

    return run_demo(settings, crash_at=args.at, keep=args.keep, console=out)


def cmd_ledger(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        entries = desk.ledger(args.user)
    if args.json:
        print(json.dumps(entries))
        return 0
    table = Table("ref", "order", "kind", "amount", "customer", "when")
    for e in entries:
        table.add_row(shown(e["reference"]), shown(e["order_id"]), shown(e["kind"]),
                      f"${e['amount_cents'] / 100:,.2f}", shown(e["customer_id"]),
                      _when(e["created_at"]))
    out.print(table)
    return 0


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    if not args.demo:
        raise InvalidInput("say what to seed: `seed --demo` adds the demo shop's users and "
                           "orders (real users are added with `users add`)")
    with SupportDesk.open(settings) as desk:
        report = desk.seed_demo()
    if report.users_added:
        out.print(f"added {len(report.users_added)} demo users: {', '.join(report.users_added)}")
    if report.orders_added:
        out.print(f"added {len(report.orders_added)} demo orders: "
                  f"{', '.join(report.orders_added)}")
    if not report.users_added and not report.orders_added:
        out.print("nothing added: the demo shop is there already")
    for user_id in report.users_skipped:
        out.print(f"skipped demo user {user_id} and their orders: another account has that id "
                  "or e-mail address")
    return 0


def cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        users = desk.users()
    if getattr(args, "json", False):
        print(json.dumps([asdict(u) for u in users]))
        return 0
    # No outer border: the e-mail column then fits an 80-column terminal unbroken.
    table = Table("user", "name", _id_column("e-mail"), "tenant", "role", "status",
                  show_edge=False)
    for u in users:
        table.add_row(u.user_id, shown(u.display_name), shown(u.email), u.tenant, u.role,
                      "disabled" if u.disabled else "active")
    out.print(table)
    return 0


def cmd_users_add(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        user = desk.add_user(args.user_id, display_name=args.name, email=args.email,
                             role=args.role, tenant=args.tenant)
    out.print(f"added user {user.user_id} ({shown(user.display_name)}, {shown(user.email)}): "
              f"{user.role} in tenant {user.tenant}")
    return 0


def cmd_users_set_role(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        user = desk.set_user_role(args.user_id, args.role)
    out.print(f"{user.user_id} is now a {user.role} in tenant {user.tenant}")
    return 0


def cmd_users_disable(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        user = desk.disable_user(args.user_id)
    out.print(f"disabled {user.user_id}: every action of this account is refused until "
              f"`users enable {user.user_id}`")
    return 0


def cmd_users_enable(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        user = desk.enable_user(args.user_id)
    out.print(f"enabled {user.user_id}")
    return 0


def cmd_users_token(settings: Settings, args: argparse.Namespace) -> int:
    with SupportDesk.open(settings) as desk:
        if args.revoke:
            count = desk.revoke_api_tokens(args.user_id)
            out.print(f"revoked {count} API token{'' if count == 1 else 's'} of {args.user_id}")
            return 0
        token = desk.issue_api_token(args.user_id)
    # Plain print: the token alone on stdout, for `TOKEN=$(support-agent users token alice)`.
    print(token)
    err.print("send it as `Authorization: Bearer <token>`; it is shown only this once")
    return 0


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    checks = SupportDesk.diagnose(settings)
    for check in checks:
        mark = "[green]ok  [/]" if check.ok else "[red]FAIL[/]"
        out.print(f"{mark} {check.name:<9} {shown(check.detail)}")
    return 0 if all(check.ok for check in checks) else 1


def cmd_exercises(settings: Settings, args: argparse.Namespace) -> int:
    from exercises.cli import cmd_exercises as run

    return run(settings, args)


def cmd_grade(settings: Settings, args: argparse.Namespace) -> int:
    from exercises.cli import cmd_grade as run

    return run(settings, args)


def cmd_ui(settings: Settings, args: argparse.Namespace) -> int:
    """Run the Streamlit app in place of this process (it never returns)."""
    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    env = {**os.environ, **_settings_env(args)}
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port",
               str(args.port), "--server.headless", "true", "--browser.gatherUsageStats",
               "false", "--client.toolbarMode", "minimal"]
    out.print(f"support-agent UI on http://localhost:{args.port} "
              f"(saver {settings.saver}, model {settings.model}); Ctrl-C stops it")
    out.file.flush()  # exec replaces this process: print the line before it goes
    # Streamlit takes this process's place rather than running as a child, so a SIGTERM to
    # `support-agent ui` (docker stop, systemd, a supervisor) reaches Streamlit itself instead
    # of killing a parent that leaves Streamlit running.
    os.execvpe(command[0], command, env)


# --- printing ---------------------------------------------------------------------------------


def print_turn(events: Iterator[ChatEvent]) -> TurnEndedEvent:
    """Stream a turn to the terminal; return its end event."""
    speaking = False
    end: TurnEndedEvent | None = None
    for event in events:
        if isinstance(event, TokenEvent):
            if not speaking:
                out.print("[bold green]assistant>[/] ", end="")
                speaking = True
            out.print(for_terminal(event.text), end="", markup=False)
            continue
        if speaking:
            out.print()
            speaking = False
        if isinstance(event, ToolCallEvent):
            note = " (needs approval)" if event.needs_approval else ""
            out.print(f"[dim]  calls {shown(event.name)}({escape(json.dumps(event.arguments))})"
                      f"{note}[/]")
        elif isinstance(event, ToolResultEvent):
            colour = "dim" if event.ok else "yellow"
            first_line = event.text.splitlines()[0] if event.text else ""
            out.print(f"[{colour}]  {shown(event.name)}: {shown(first_line)}[/]")
        elif isinstance(event, HousekeepingEvent):
            out.print(f"[dim]  ({event.kind}: {event.removed_messages} older messages folded "
                      "away)[/]")
        elif isinstance(event, ApprovalRequestedEvent):
            out.print("[yellow]waiting for a supervisor to approve "
                      f"{shown(event.approval.action)} "
                      f"{escape(json.dumps(event.approval.arguments))}[/]")
        elif isinstance(event, TurnEndedEvent):
            end = event
    if speaking:
        out.print()
    assert end is not None
    out.print(f"thread: {end.thread_id}  status: {end.status}")
    return end


def shown(text: str) -> str:
    """Stored or typed text made safe to print: no terminal controls, no rich markup."""
    # Anyone's text (a customer's title, a message, a display name) reaches a supervisor's
    # terminal; escape sequences in it could retitle the window, hide lines or forge links.
    return escape(for_terminal(text))


def _parse_assignment(text: str) -> tuple[str, str]:
    # Values stay strings: the service types them by the tool's schema ("20" -> 20.0), so an
    # order number like 1001 is not turned into an integer here.
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InvalidInput(f"--set needs ARG=VALUE, got {text!r}")
    return key.strip(), value


def _settings_env(args: argparse.Namespace) -> dict[str, str]:
    return {f"SUPPORT_{k.upper()}": str(getattr(args, k)) for k in SETTING_FLAGS
            if getattr(args, k, None) is not None}


def _id_column(header: str) -> Column:
    """A column whose ids wrap onto more lines rather than being cut, so they can be copied."""
    return Column(header, overflow="fold", min_width=12)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


if __name__ == "__main__":
    sys.exit(main())
