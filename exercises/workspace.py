"""The learner's workspace: starters copied out once, learner files found, last grade kept."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

from agent.errors import InvalidInput
from exercises.tasks import Task

DEFAULT_WORKSPACE = Path("my-exercises")
SOLUTIONS_DIR = Path(__file__).resolve().parent / "solutions"
COURSE_TEXT = Path(__file__).resolve().parent / "README.md"
LAST_GRADE = ".last-grade.json"


def planned_files(tasks: list[Task], dest: Path) -> dict[Path, Path]:
    """Workspace file -> the package file it is copied from."""
    files: dict[Path, Path] = {dest / "README.md": COURSE_TEXT}
    for task in tasks:
        files[dest / task.slug / "BRIEF.md"] = task.folder / "BRIEF.md"
        files[dest / task.slug / task.learner_file] = task.folder / task.starter_file
    return files


def start_workspace(tasks: list[Task], dest: Path, *, force: bool = False) -> list[Path]:
    """Copy every task's brief and starter into `dest`; never overwrite work unless forced."""
    if dest.exists() and not dest.is_dir():
        raise InvalidInput(f"{dest} exists and is not a folder; choose another workspace path")
    files = planned_files(tasks, dest)
    existing = [path for path in files if path.exists()]
    if existing and not force:
        shown = ", ".join(str(path) for path in existing[:3])
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise InvalidInput(f"{dest} already holds exercise files ({shown}{more}); nothing was "
                           "changed. Grade them with `support-agent grade`, or pass --force to "
                           "replace them with fresh starters")
    try:
        for target, source in files.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    except OSError as exc:
        raise InvalidInput(f"cannot write the workspace at {dest}: {exc.strerror or exc}") from exc
    return list(files)


def learner_file(task: Task, root: Path) -> Path | None:
    """The learner's file for a task: `<slug>/<file>` (workspace) or `<slug>.<ext>` (flat)."""
    nested = root / task.slug / task.learner_file
    flat = root / (task.slug + Path(task.learner_file).suffix)
    return next((path for path in (nested, flat) if path.is_file()), None)


def solution_file(task: Task) -> Path | None:
    """The reference solution of a task."""
    return learner_file(task, SOLUTIONS_DIR)


def save_last_grade(root: Path, results: list[dict[str, Any]]) -> None:
    """Remember the latest result of every check graded in this workspace."""
    record = load_last_grade(root)
    for result in results:
        record[f"{result['task']}:{result['key']}"] = {
            key: result[key] for key in ("task", "key", "score", "max_score", "status")}
    # A read-only workspace can still be graded; `exercises list` just won't know.
    with contextlib.suppress(OSError):
        (root / LAST_GRADE).write_text(json.dumps(record, indent=1))


def load_last_grade(root: Path) -> dict[str, dict[str, Any]]:
    """The saved results, by "task:check"; empty if never graded or unreadable."""
    try:
        data = json.loads((root / LAST_GRADE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
