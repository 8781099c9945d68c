"""`support-agent exercises start|list` and `support-agent grade` (also `python -m exercises`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.errors import InvalidInput
from agent.settings import Settings, mask_password
from exercises.tasks import Task, all_tasks
from exercises.workspace import (
    DEFAULT_WORKSPACE,
    learner_file,
    load_last_grade,
    save_last_grade,
    solution_file,
    start_workspace,
)

out = Console(highlight=False, soft_wrap=True)


def add_exercises_arguments(parser: argparse.ArgumentParser) -> None:
    """`exercises start [DIR] [--force]` and `exercises list [--path DIR]`."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="copy the starters into a workspace")
    start.add_argument("dir", nargs="?", type=Path, default=DEFAULT_WORKSPACE,
                       help=f"the workspace (default ./{DEFAULT_WORKSPACE})")
    start.add_argument("--force", action="store_true",
                       help="replace existing exercise files with fresh starters")
    listing = actions.add_parser("list", help="the tasks, their points and your last grade")
    listing.add_argument("--path", type=Path, default=DEFAULT_WORKSPACE,
                         help=f"the workspace (default ./{DEFAULT_WORKSPACE})")


def add_grade_arguments(parser: argparse.ArgumentParser) -> None:
    """`grade [TASK ...] [--path DIR | --solutions] [--json FILE] [--fail-under P] ...`."""
    parser.add_argument("tasks", nargs="*", metavar="TASK",
                        help="task numbers or names (default: all), e.g. 1 3 or task3_resume")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--path", type=Path, default=None,
                       help=f"the workspace to grade (default ./{DEFAULT_WORKSPACE})")
    where.add_argument("--solutions", action="store_true",
                       help="grade the reference solutions instead")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write Gradescope's results.json to FILE")
    parser.add_argument("--fail-under", type=float, metavar="P",
                        help="exit 1 when the score is below P percent (for a course's CI)")
    parser.add_argument("--jobs", type=int, default=2, help="checks run at once (default 2)")
    parser.add_argument("--timeout-scale", type=float, default=1.0,
                        help="multiply every check's time limit (slow machines)")
    parser.add_argument("--seed", type=int, help="fix the random names and ids the checks use")
    parser.add_argument("--package-autograder", type=Path, metavar="ZIP",
                        help="write Gradescope's autograder zip to ZIP instead of grading")


def cmd_exercises(settings: Settings, args: argparse.Namespace) -> int:
    """Run `exercises start` or `exercises list`."""
    tasks = all_tasks()
    if args.action == "start":
        written = start_workspace(tasks, args.dir, force=args.force)
        where = escape(str(args.dir))
        out.print(f"Wrote {len(written)} files to {where}/: the course text (README.md) and a "
                  "folder per task with BRIEF.md and the file you edit.")
        out.print(f"Start with {where}/README.md, then {where}/task1_memory/BRIEF.md. Grade "
                  f"with: support-agent grade --path {where}")
        return 0
    last = load_last_grade(args.path)
    table = Table("task", "title", "points", "time", "last grade")
    for task in tasks:
        table.add_row(str(task.number), escape(task.title), f"{task.max_points:g}",
                      f"~{task.minutes} min", _last_grade_cell(task, last))
    out.print(table)
    if not args.path.is_dir():
        out.print(f"No workspace at {escape(str(args.path))} yet: "
                  "run `support-agent exercises start`.")
    return 0


def cmd_grade(settings: Settings, args: argparse.Namespace) -> int:
    """Grade the workspace (or the solutions) and report."""
    from exercises.grader.report import percent, print_report, progress_line, write_gradescope
    from exercises.grader.runner import GradingOptions, grade

    if args.package_autograder:
        from exercises.grader.autograder import build_autograder_zip

        path = build_autograder_zip(args.package_autograder)
        out.print(f"Wrote {escape(str(path))}: upload it as the Gradescope autograder "
                  "(see exercises/README.md).")
        return 0
    if args.jobs < 1 or args.timeout_scale <= 0:
        raise InvalidInput("--jobs must be at least 1 and --timeout-scale above 0")
    if args.fail_under is not None and not 0 <= args.fail_under <= 100:
        raise InvalidInput("--fail-under takes a percentage from 0 to 100, got "
                           f"{args.fail_under:g}")
    tasks = select_tasks(all_tasks(), args.tasks)
    root = None if args.solutions else (args.path or DEFAULT_WORKSPACE)
    if root is not None and not root.is_dir():
        raise InvalidInput(f"no workspace at {root}: run `support-agent exercises start` first, "
                           "or pass --path to the folder with your solutions")

    def locate(task: Task) -> Path | None:
        return solution_file(task) if root is None else learner_file(task, root)

    postgres_url, problem = postgres_for_grading(settings)
    options = GradingOptions(postgres_url=postgres_url, postgres_problem=problem, jobs=args.jobs,
                             timeout_scale=args.timeout_scale, seed=args.seed)
    total = sum(len(task.checks) for task in tasks)
    what = "the reference solutions" if root is None else str(root)
    out.print(f"Grading {escape(what)}: {len(tasks)} task(s), {total} checks, "
              f"{args.jobs} at a time; PostgreSQL checks: "
              f"{'on ' + _masked(postgres_url) if postgres_url and not problem else 'skipped'}")
    done = 0

    def on_result(result) -> None:
        nonlocal done
        done += 1
        progress_line(out, result, done, total)

    started = time.monotonic()
    results = grade(tasks, locate, options, on_result=on_result)
    seconds = time.monotonic() - started
    print_report(out, results)
    if any(task.slug == "task8_quiz" for task in tasks):
        from exercises.tasks.task8_quiz.checks import print_explanations

        print_explanations(out, locate(next(t for t in tasks if t.slug == "task8_quiz")))
    out.print(f"[dim]graded in {seconds:.1f} s[/]")
    if root is not None:
        save_last_grade(root, [r.to_dict() for r in results])
    if args.json:
        write_gradescope(args.json, results, seconds)
        out.print(f"Wrote {escape(str(args.json))} (Gradescope results.json)")
    if args.fail_under is not None and percent(results) < args.fail_under:
        out.print(f"[red]score {percent(results):.0f}% is under --fail-under "
                  f"{args.fail_under:g}%[/]")
        return 1
    return 0


def select_tasks(tasks: list[Task], wanted: list[str]) -> list[Task]:
    """The tasks named by number, slug or the slug's last part; all of them if none named."""
    if not wanted:
        return tasks
    chosen: list[Task] = []
    for name in wanted:
        key = name.strip().lower()
        match = next((t for t in tasks if key in (str(t.number), t.slug, f"task{t.number}",
                                                  t.slug.split("_", 1)[1])), None)
        if match is None:
            known = ", ".join(f"{t.number} ({t.slug})" for t in tasks)
            raise InvalidInput(f"no task {name!r}; the tasks are {known}")
        if match not in chosen:
            chosen.append(match)
    return sorted(chosen, key=lambda t: t.number)


def postgres_for_grading(settings: Settings) -> tuple[str | None, str | None]:
    """(URL, problem): the PostgreSQL to grade on if one is configured, and why it can't be."""
    configured = "postgres_url" in settings.model_fields_set or settings.saver == "postgres"
    if not configured:
        return None, None
    try:
        import psycopg

        with psycopg.connect(settings.postgres_url, connect_timeout=5, autocommit=True):
            pass
    except Exception as exc:  # any failure to connect means: skip, and say why
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return settings.postgres_url, (f"PostgreSQL at {_masked(settings.postgres_url)} is not "
                                       f"reachable ({first})")
    return settings.postgres_url, None


def _masked(url: str | None) -> str:
    return mask_password(url or "")


def _last_grade_cell(task: Task, last: dict[str, dict]) -> str:
    rows = [last.get(f"{task.number}:{check.key}") for check in task.checks]
    if not any(rows):
        return "[dim]not graded yet[/]"
    graded = [row for row in rows if row and row.get("status") != "not graded"]
    score = sum(row["score"] for row in graded)
    maximum = sum(row["max_score"] for row in graded)
    colour = "green" if score == maximum else ("yellow" if score else "red")
    return f"[{colour}]{score:g}/{maximum:g}[/]"


def main(argv: list[str] | None = None) -> int:
    """`python -m exercises start|list|grade ...`: the same commands as `support-agent`."""
    from agent.cli import main as support_agent_main

    argv = list(argv) if argv is not None else __import__("sys").argv[1:]
    if argv and argv[0] in ("start", "list"):
        argv = ["exercises", *argv]
    return support_agent_main(argv)
