"""The course's tasks, one folder each: BRIEF.md, the starter the learner fills in, the checks."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from exercises.grader.checks import Check

TASKS_DIR = Path(__file__).resolve().parent
TASK_SLUGS = ("task1_memory", "task2_sqlite", "task3_resume", "task4_summarize",
              "task5_concurrency", "task6_approval", "task7_time_travel", "task8_quiz")


@dataclass(frozen=True)
class Task:
    """A graded task: where its files are, how long it takes, and its checks."""

    number: int
    slug: str
    title: str
    minutes: int
    checks: tuple[Check, ...]
    learner_file: str = "solution.py"  # what the learner edits in their workspace
    starter_file: str = "starter.py"   # what `exercises start` copies there

    @property
    def folder(self) -> Path:
        """The task's folder inside the package."""
        return TASKS_DIR / self.slug

    @property
    def max_points(self) -> float:
        """All the points this task can give."""
        return sum(check.points for check in self.checks)


def all_tasks() -> list[Task]:
    """Every task, in course order."""
    return [importlib.import_module(f"exercises.tasks.{slug}.checks").TASK
            for slug in TASK_SLUGS]
