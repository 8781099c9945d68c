"""A scripted support conversation that can be killed anywhere and continued by a new process.

It touches every node and crash point: a remembered name, a tool turn, a refund that waits
for approval and is approved, a ticket, a policy question, a cancellation that is rejected,
a refund refused before anyone is asked, a handoff to a person (who writes, and hands the
thread back), a long message that makes the thread prune and summarise, and a question about
the name.

Progress lives in a small JSON file (the thread id and how many steps are done); a step that
was under way when the process died is finished from the thread's own state: a message that
reached a checkpoint is not sent twice, pending work is resumed, a decision is not taken twice.

    python -m agent.demos.script --progress run.json [--json]   (settings from SUPPORT_*)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.errors import SupportError
from agent.service import SupportDesk
from agent.views import ChatEvent

CUSTOMER, SUPERVISOR = "alice", "sam"
LONG_MESSAGE = ("For the record, here is the story of my tent order. " * 24).strip()


@dataclass(frozen=True)
class Step:
    """One thing a person does: the customer says something, or the supervisor decides."""

    actor: str
    text: str = ""
    decision: dict[str, Any] | None = None
    hand_back: bool = False  # the supervisor hands the thread back to the assistant

    @property
    def describe(self) -> str:
        if self.decision:
            return f"{self.actor} decides: {json.dumps(self.decision)}"
        if self.hand_back:
            return f"{self.actor} hands the thread back to the assistant"
        shown = self.text if len(self.text) < 80 else self.text[:77] + "..."
        return f"{self.actor}: {shown}"


SCRIPT: tuple[Step, ...] = (
    Step(CUSTOMER, "Hi, my name is Alice"),
    Step(CUSTOMER, "Where is ORD-1002?"),
    Step(CUSTOMER, "Please refund ORD-1001, the boots leak"),
    Step(SUPERVISOR, decision={"action": "approve"}),
    Step(CUSTOMER, "Please open a ticket: the zip of my tent is broken"),
    Step(CUSTOMER, "What is your return policy?"),
    Step(CUSTOMER, "Cancel ORD-1003 please"),
    Step(SUPERVISOR, decision={"action": "reject", "reason": "the parcel is already packed"}),
    Step(CUSTOMER, "Then please refund ORD-1003"),
    Step(CUSTOMER, "Can I talk to a person please?"),
    Step(SUPERVISOR, "Hi Alice, Sam from the support team here. How can I help?"),
    Step(CUSTOMER, "Just checking the tent will still come"),
    Step(SUPERVISOR, hand_back=True),
    Step(CUSTOMER, LONG_MESSAGE),
    Step(CUSTOMER, "What's my name?"),
)

# Small thresholds so a ten-step script prunes and summarises (the crash points need both).
SCRIPT_SETTINGS = {"summary_trigger_messages": 8, "summary_keep_messages": 4,
                   "prune_max_chars": 1500}

Report = Callable[[dict[str, Any]], None]


def run_script(desk: SupportDesk, progress_file: Path, report: Report = lambda _: None) -> str:
    """Run (or continue) the script; return the thread id."""
    progress = json.loads(progress_file.read_text()) if progress_file.exists() else {}
    thread_id = progress.get("thread_id")
    if thread_id is None:
        thread_id = desk.create_thread(CUSTOMER, "Scripted support conversation").thread_id
        _save(progress_file, thread_id, 0)
    report({"event": "thread", "thread_id": thread_id, "pid": os.getpid()})
    for index, step in enumerate(SCRIPT):
        if index < progress.get("done", 0):
            continue
        report({"event": "step", "index": index, "describe": step.describe})
        _finish_step(desk, thread_id, index, step, report)
        _save(progress_file, thread_id, index + 1)
    return thread_id


def _finish_step(desk: SupportDesk, thread_id: str, index: int, step: Step,
                 report: Report) -> None:
    view = desk.view_thread(SUPERVISOR, thread_id)
    pending_work = bool(view.next_nodes) and not view.pending_approvals
    if pending_work:
        # A process died in this step: its input is in a checkpoint; finish from there.
        head = desk.history(SUPERVISOR, thread_id, limit=1)[0]
        report({"event": "resume", "checkpoint_id": head.checkpoint_id, "step": head.step,
                "next": list(head.next_nodes), "thread_status": view.thread.status})
        _relay(desk.resume(SUPERVISOR, thread_id), report)
        view = desk.view_thread(SUPERVISOR, thread_id)
    if step.decision:
        if view.pending_approvals:
            _relay(desk.decide_approval(step.actor, thread_id, step.decision), report)
        return
    if step.hand_back:
        if view.handoff is not None:  # not handed back before the crash
            _relay(desk.hand_back(step.actor, thread_id), report)
        return
    role = "staff" if step.actor == SUPERVISOR else "customer"
    said = [m.text for m in view.messages if m.role == role]
    if said and said[-1] == step.text:
        return  # the message reached a checkpoint before the crash and its turn is now done
    if role == "staff":
        _relay(desk.reply_as_staff(step.actor, thread_id, step.text), report)
    else:
        _relay(desk.send_message(step.actor, step.text, thread_id=thread_id), report)


def _relay(events: Iterable[ChatEvent], report: Report) -> None:
    for event in events:
        report({"event": type(event).__name__, **asdict(event)})


def _save(progress_file: Path, thread_id: str, done: int) -> None:
    temporary = progress_file.with_suffix(".tmp")
    temporary.write_text(json.dumps({"thread_id": thread_id, "done": done}))
    os.replace(temporary, progress_file)  # atomic: a kill never leaves half a file


def main(argv: list[str] | None = None) -> int:
    """Run the script in this process, printing one JSON line per event (for the demo)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--progress", type=Path, required=True)
    args = parser.parse_args(argv)

    def report(payload: dict[str, Any]) -> None:
        print(json.dumps(payload, default=str), flush=True)

    try:
        with SupportDesk.open(**SCRIPT_SETTINGS) as desk:
            run_script(desk, args.progress, report)
    except SupportError as exc:
        report({"event": "error", "message": str(exc)})
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
