"""Grade one learner file for one task, in-process, the way `support-agent grade` does."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from exercises.grader.runner import CheckResult, GradingOptions, grade
from exercises.tasks import Task

WRONG_DIR = Path(__file__).resolve().parent.parent / "course" / "wrong"


def task_by_slug(slug: str) -> Task:
    """The task called `slug`."""
    return importlib.import_module(f"exercises.tasks.{slug}.checks").TASK


def grade_file(slug: str, path: Path | None, *, postgres_url: str | None = None,
               timeout_scale: float = 1.0, seed: int | None = None) -> dict[str, CheckResult]:
    """Grade `path` as the learner file of task `slug`; results by check key."""
    options = GradingOptions(postgres_url=postgres_url, timeout_scale=timeout_scale, seed=seed)
    results = grade([task_by_slug(slug)], lambda task: path, options)
    return {result.key: result for result in results}


def wrong_solutions() -> list[Path]:
    """Every wrong-solution fixture: tests/course/wrong/<task slug>/<what is wrong>.py."""
    return sorted(WRONG_DIR.glob("task*/*.py")) + sorted(WRONG_DIR.glob("task*/*.toml"))


def expected_failures(path: Path) -> frozenset[str]:
    """The check keys a fixture must fail: its EXPECTED_FAILURES (or `expected_failures`)."""
    if path.suffix == ".toml":
        import tomllib

        return frozenset(tomllib.loads(path.read_text())["expected_failures"])
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "EXPECTED_FAILURES" for t in node.targets)):
            return frozenset(ast.literal_eval(node.value))
    raise AssertionError(f"{path} has no EXPECTED_FAILURES")
