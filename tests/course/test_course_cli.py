"""The course from a learner's and an instructor's seat: `support-agent exercises` and `grade`.

Every command is a real separate process, as a learner would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exercises.tasks import all_tasks

TASKS = all_tasks()
TOTAL_CHECKS = sum(len(task.checks) for task in TASKS)
POSTGRES_CHECKS = sum(1 for task in TASKS for check in task.checks if check.needs_postgres)


def run(*args: str, cwd: Path, module: str = "agent.cli") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SUPPORT_", "OPENAI_", "FORCE_COLOR", "COLUMNS"))}
    env.update(NO_COLOR="1", COLUMNS="200", PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def solutions_graded(tmp_path_factory: pytest.TempPathFactory):
    """`grade --solutions --json r.json`, run once for the tests below."""
    cwd = tmp_path_factory.mktemp("solutions")
    done = run("grade", "--solutions", "--json", "r.json", "--fail-under", "100", cwd=cwd)
    return done, json.loads((cwd / "r.json").read_text()) if (cwd / "r.json").exists() else None


def test_start_copies_every_brief_and_starter(tmp_path: Path):
    done = run("exercises", "start", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    course = (tmp_path / "my-exercises" / "README.md").read_text()
    assert course.startswith("# Course unit: state, memory and checkpoints in LangGraph")
    for task in TASKS:
        folder = tmp_path / "my-exercises" / task.slug
        assert (folder / "BRIEF.md").read_text() == (task.folder / "BRIEF.md").read_text()
        assert (folder / task.learner_file).read_text() == \
            (task.folder / task.starter_file).read_text()


def test_start_never_overwrites_work_unless_forced(tmp_path: Path):
    assert run("exercises", "start", "ws", cwd=tmp_path).returncode == 0
    mine = tmp_path / "ws" / "task1_memory" / "solution.py"
    mine.write_text("# my work\n")
    again = run("exercises", "start", "ws", cwd=tmp_path)
    assert again.returncode == 2
    assert "already holds exercise files" in again.stderr and "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert mine.read_text() == "# my work\n"
    forced = run("exercises", "start", "ws", "--force", cwd=tmp_path)
    assert forced.returncode == 0
    assert "NotImplementedError" in mine.read_text()


def test_start_into_a_file_is_a_clear_error(tmp_path: Path):
    (tmp_path / "taken").write_text("x")
    done = run("exercises", "start", "taken", cwd=tmp_path)
    assert done.returncode == 2
    assert "taken exists and is not a folder" in done.stderr and "Traceback" not in done.stderr


def test_python_dash_m_exercises_starts_a_workspace_too(tmp_path: Path):
    done = run("start", "other", cwd=tmp_path, module="exercises")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "other" / "task1_memory" / "solution.py").is_file()


def test_starters_score_zero_on_every_check_each_with_a_hint(tmp_path: Path):
    assert run("exercises", "start", cwd=tmp_path).returncode == 0
    listed = run("exercises", "list", cwd=tmp_path)
    assert listed.stdout.count("not graded yet") == len(TASKS)
    done = run("grade", "--json", "out/results.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Total: 0 / " in done.stdout
    assert done.stdout.count("not implemented yet") >= TOTAL_CHECKS - POSTGRES_CHECKS - 8
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["score"] == 0
    assert len(results["tests"]) == TOTAL_CHECKS - POSTGRES_CHECKS
    for test in results["tests"]:
        assert test["status"] == "failed" and test["score"] == 0
        assert "What to look at:" in test["output"]
    listed = run("exercises", "list", cwd=tmp_path)
    assert "not graded yet" not in listed.stdout
    assert "0/10" in listed.stdout  # task 1, graded: nothing yet


def test_fail_under_fails_a_low_score(tmp_path: Path):
    assert run("exercises", "start", cwd=tmp_path).returncode == 0
    done = run("grade", "1", "--fail-under", "50", cwd=tmp_path)
    assert done.returncode == 1
    assert "under --fail-under 50%" in done.stdout


def test_the_reference_solutions_get_full_marks(solutions_graded):
    done, _ = solutions_graded
    assert done.returncode == 0, done.stdout + done.stderr
    assert "failed" not in done.stdout.replace("[dim]", "")
    graded_max = sum(c.points for t in TASKS for c in t.checks if not c.needs_postgres)
    assert f"Total: {graded_max:g} / {graded_max:g} (100%)" in done.stdout


def test_results_json_has_gradescopes_fields(solutions_graded):
    _, results = solutions_graded
    assert results is not None
    for key in ("score", "execution_time", "output", "output_format", "visibility", "tests"):
        assert key in results
    assert results["output_format"] in ("text", "simple_format", "html", "md", "ansi")
    assert results["visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    assert isinstance(results["execution_time"], (int, float)) and results["execution_time"] > 0
    numbers = set()
    for test in results["tests"]:
        for key, kind in (("name", str), ("number", str), ("score", (int, float)),
                          ("max_score", (int, float)), ("status", str), ("output", str),
                          ("output_format", str)):
            assert isinstance(test[key], kind), (key, test)
        assert test["status"] == "passed" and test["score"] == test["max_score"] > 0
        numbers.add(test["number"])
    assert len(numbers) == len(results["tests"])
    assert results["score"] == sum(test["score"] for test in results["tests"])


def test_postgres_checks_are_not_graded_without_a_server(solutions_graded):
    done, results = solutions_graded
    assert "PostgreSQL checks: skipped" in done.stdout
    if POSTGRES_CHECKS:
        assert "not graded" in done.stdout
        assert "pass --postgres-url or set SUPPORT_POSTGRES_URL" in done.stdout
        assert not any("PostgreSQL" in test["name"] for test in results["tests"])


def test_an_unreachable_postgres_is_skipped_with_the_reason(tmp_path: Path):
    done = run("grade", "--solutions", "8", "--postgres-url",
               "postgresql://nobody@127.0.0.1:1/none", cwd=tmp_path)
    assert done.returncode == 0
    assert "PostgreSQL checks: skipped" in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("grade", "42"), "no task '42'; the tasks are 1 (task1_memory)"),
    (("grade", "--path", "nowhere"), "no workspace at nowhere"),
    (("grade", "--fail-under", "120"), "--fail-under takes a percentage from 0 to 100"),
    (("grade", "--jobs", "0"), "--jobs must be at least 1"),
])
def test_bad_grade_arguments_are_clear_errors(tmp_path: Path, args, message):
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
