"""Show grading results: a progress line per check, a table, details, and Gradescope JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.text import for_terminal
from exercises.grader.runner import CheckResult

MARKS = {"passed": "[green]passed[/]", "failed": "[red]failed[/]",
         "timed out": "[red]timed out[/]", "not graded": "[yellow]not graded[/]"}


def totals(results: Sequence[CheckResult]) -> tuple[float, float]:
    """(score, maximum) over the checks that were graded."""
    graded = [r for r in results if r.graded]
    return sum(r.score for r in graded), sum(r.max_score for r in graded)


def percent(results: Sequence[CheckResult]) -> float:
    """The score as a percentage of what could be graded here (100 if nothing could)."""
    score, maximum = totals(results)
    return 100.0 * score / maximum if maximum else 100.0


def progress_line(console: Console, result: CheckResult, done: int, total: int) -> None:
    """One line as each check finishes."""
    console.print(f"[dim][{done:>2}/{total}][/] task {result.task} · {escape(result.title)}: "
                  f"{MARKS[result.status]} [dim]({result.seconds:.1f} s)[/]")


def print_report(console: Console, results: Sequence[CheckResult]) -> None:
    """The results table, then what each failed check saw, then the total."""
    table = Table("task", "check", "points", "result", "what to look at", show_lines=False)
    for r in results:
        table.add_row(str(r.task), escape(r.title), f"{r.score:g}/{r.max_score:g}",
                      MARKS[r.status], escape(r.hint if r.status != "passed" else ""))
    console.print(table)
    for r in results:
        if r.status in ("passed",) or not r.message:
            continue
        console.print(f"\n[bold]task {r.task} · {escape(r.title)}[/] — {MARKS[r.status]}")
        # A learner's output can hold terminal escapes; the instructor's terminal shows it too.
        console.print(escape(for_terminal(r.message)), markup=True, highlight=False)
        if r.timeline:
            console.print(timeline_table(r.timeline))
        if r.expected:
            console.print(f"[bold]expected:[/] {escape(for_terminal(r.expected))}")
    score, maximum = totals(results)
    skipped = [r for r in results if not r.graded]
    console.print(f"\n[bold]Total: {score:g} / {maximum:g} ({percent(results):.0f}%)[/]")
    if skipped:
        console.print(f"[yellow]{len(skipped)} check(s) not graded here and not counted: "
                      f"{escape(skipped[0].message)}[/]")


def timeline_table(rows: list[dict[str, Any]], limit: int = 24) -> Table:
    """A learner's checkpoint timeline: step, node, message count, bytes."""
    table = Table("step", "written by", "messages", "bytes", title="your checkpoints (oldest "
                  "first)", title_justify="left")
    shown = rows if len(rows) <= limit else rows[: limit // 2] + rows[-limit // 2:]
    for row in shown:
        table.add_row(str(row.get("step")), escape(str(row.get("node"))),
                      str(row.get("messages")), f"{row.get('bytes', 0):,}")
    if len(shown) < len(rows):
        table.caption = f"{len(rows) - len(shown)} rows in the middle not shown"
    return table


def gradescope_results(results: Sequence[CheckResult], seconds: float) -> dict[str, Any]:
    """Gradescope's results.json: a test per graded check, the total, a short summary."""
    score, maximum = totals(results)
    tests = []
    per_task: dict[int, int] = {}
    for r in results:
        per_task[r.task] = per_task.get(r.task, 0) + 1  # 1.1, 1.2, ... 8.8: sorts by task
        if not r.graded:
            continue
        output = "" if r.status == "passed" else r.message
        if r.status != "passed" and r.hint:
            output += f"\n\nWhat to look at: {r.hint}"
        tests.append({
            "name": f"Task {r.task} · {r.title}",
            "number": f"{r.task}.{per_task[r.task]}",
            "score": r.score,
            "max_score": r.max_score,
            "status": "passed" if r.status == "passed" else "failed",
            "output": output.strip(),
            "output_format": "text",
            "visibility": "visible",
        })
    skipped = sum(1 for r in results if not r.graded)
    summary = f"Total: {score:g} / {maximum:g}."
    if skipped:
        summary += f" {skipped} check(s) could not run here and are not counted."
    return {
        "score": score,
        "execution_time": round(seconds, 2),
        "output": summary,
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_gradescope(path: Path, results: Sequence[CheckResult], seconds: float) -> None:
    """Write results.json for Gradescope."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(gradescope_results(results, seconds), indent=2))
