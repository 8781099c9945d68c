"""Grade tasks: each check in its own process group with a time limit, a few at a time."""

from __future__ import annotations

import importlib
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from exercises.grader.checks import Check, CheckContext, CheckFailed
from exercises.grader.forking import Forked, ForkOutcome, start_forked
from exercises.grader.learner import LearnerError, describe
from exercises.tasks import Task

CheckStatus = Literal["passed", "failed", "timed out", "not graded"]


@dataclass
class CheckResult:
    """How one check went."""

    task: int
    task_title: str
    key: str
    title: str
    max_score: float
    score: float
    status: CheckStatus
    message: str = ""
    hint: str = ""
    timeline: list[dict[str, Any]] | None = None
    expected: str | None = None
    seconds: float = 0.0

    @property
    def graded(self) -> bool:
        """False for a check that could not run here (e.g. no PostgreSQL): it counts nowhere."""
        return self.status != "not graded"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


@dataclass(frozen=True)
class GradingOptions:
    """How to grade: where PostgreSQL is, how many checks at once, time-limit scale."""

    postgres_url: str | None = None
    postgres_problem: str | None = None  # why PostgreSQL checks cannot run, if they cannot
    jobs: int = 2
    timeout_scale: float = 1.0
    seed: int | None = None


# Imported once here so every forked check starts with them loaded (a fresh import costs
# seconds on a busy machine); the learner's own module is only ever imported in the child.
PRELOADED = ("langgraph.graph", "langgraph.prebuilt", "langgraph.checkpoint.memory",
             "langgraph.checkpoint.sqlite", "langchain_core.messages", "exercises.kit")


def grade(tasks: Sequence[Task], locate: Callable[[Task], Path | None],
          options: GradingOptions,
          on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run every check of `tasks` against the learner files `locate` finds; results in order."""
    for module in PRELOADED:
        importlib.import_module(module)
    rng = random.Random(options.seed)
    pending: list[tuple[int, Task, Check, Path | None]] = []
    results: dict[int, CheckResult] = {}
    for task in tasks:
        path = locate(task)
        path = path.resolve() if path is not None else None  # scenarios run in other folders
        for check in task.checks:
            index = len(pending)
            early = _cannot_run(task, check, path, options)
            if early:
                results[index] = early
                if on_result:
                    on_result(early)
            pending.append((index, task, check, path))
    queue = [item for item in pending if item[0] not in results]
    running: list[tuple[int, Task, Check, Forked, Path, float]] = []
    scratch = Path(tempfile.mkdtemp(prefix="support-agent-grade-"))
    try:
        while queue or running:
            while queue and len(running) < max(1, options.jobs):
                index, task, check, path = queue.pop(0)
                workdir = scratch / f"{index:03d}-{check.key}"
                workdir.mkdir()
                context = CheckContext(path, workdir, options.postgres_url,
                                       random.Random(rng.random()))
                limit = check.timeout * options.timeout_scale
                forked = start_forked(_run_check, check, context, own_group=True)
                running.append((index, task, check, forked, path, limit))
            for entry in list(running):
                index, task, check, forked, path, limit = entry
                outcome = (forked.wait(limit) if time.monotonic() - forked.started >= limit
                           else forked.poll())
                if outcome is None:
                    continue
                running.remove(entry)
                results[index] = _result(task, check, outcome, limit)
                if on_result:
                    on_result(results[index])
            time.sleep(0.005)
    finally:
        for entry in running:
            entry[3].kill()
        shutil.rmtree(scratch, ignore_errors=True)
    return [results[index] for index, *_ in pending]


def _cannot_run(task: Task, check: Check, path: Path | None,
                options: GradingOptions) -> CheckResult | None:
    if check.needs_postgres and (not options.postgres_url or options.postgres_problem):
        why = options.postgres_problem or ("no PostgreSQL configured (pass --postgres-url or "
                                           "set SUPPORT_POSTGRES_URL to grade it)")
        return CheckResult(task.number, task.title, check.key, check.title, check.points, 0.0,
                           "not graded", f"skipped: {why}", check.hint)
    if path is None:
        return CheckResult(task.number, task.title, check.key, check.title, check.points, 0.0,
                           "failed", f"no {task.learner_file} for this task (expected "
                           f"{task.slug}/{task.learner_file}, or {task.slug}"
                           f"{Path(task.learner_file).suffix} beside the task folders)",
                           check.hint)
    return None


def _run_check(check: Check, context: CheckContext) -> dict[str, Any]:
    """Inside the check's own process: run it and say how it went."""
    try:
        check.run(context)
    except CheckFailed as exc:
        return {"passed": False, "message": str(exc), "timeline": exc.timeline,
                "expected": exc.expected}
    except LearnerError as exc:
        return {"passed": False, "message": str(exc), "timed_out": exc.timed_out}
    except Exception as exc:  # the learner's objects can break the check in any way
        return {"passed": False, "message": describe(exc, context.learner_path)}
    return {"passed": True, "message": ""}


def _result(task: Task, check: Check, outcome: ForkOutcome, limit: float) -> CheckResult:
    def make(status: CheckStatus, score: float, message: str, **extra: Any) -> CheckResult:
        return CheckResult(task.number, task.title, check.key, check.title, check.points, score,
                           status, message, "" if status == "passed" else check.hint,
                           seconds=round(outcome.seconds, 2), **extra)

    if outcome.status == "timeout":
        return make("timed out", 0.0, f"timed out after {limit:g} s (an endless loop, or a "
                    "call that waits for something that never comes?)")
    if outcome.status != "ok":
        return make("failed", 0.0, outcome.error or "the check's process died")
    value = outcome.value
    if value["passed"]:
        return make("passed", check.points, "")
    status: CheckStatus = "timed out" if value.get("timed_out") else "failed"
    return make(status, 0.0, value["message"], timeline=value.get("timeline"),
                expected=value.get("expected"))
