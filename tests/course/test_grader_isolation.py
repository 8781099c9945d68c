"""The grader survives whatever a learner's file does, and says what happened in their terms."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

from support.grading import grade_file

from exercises.grader.runner import GradingOptions, grade
from exercises.tasks import Task
from exercises.tasks.task1_memory.checks import TASK as TASK1

SOLUTION = Path(__file__).resolve().parents[2] / "exercises" / "solutions" / "task1_memory.py"


def learner(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "task1_memory" / "solution.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body))
    return path


def test_a_syntax_error_fails_every_check_naming_the_line(tmp_path: Path):
    path = learner(tmp_path, "def build_agent(:\n    pass\n")
    results = grade_file("task1_memory", path)
    for result in results.values():
        assert result.status == "failed" and result.score == 0
        assert "SyntaxError" in result.message and "line 1" in result.message
        assert result.hint


def test_tracebacks_show_only_the_learners_frames(tmp_path: Path):
    path = learner(tmp_path, """
        def helper():
            return {}["missing"]

        def build_agent():
            return helper()

        def ask(graph, thread_id, text):
            return ""
    """)
    result = grade_file("task1_memory", path)["memory-saver"]
    assert result.status == "failed"
    assert "Traceback (your code only):" in result.message
    assert 'File "solution.py", line 6, in build_agent' in result.message
    assert 'File "solution.py", line 3, in helper' in result.message
    assert "KeyError: 'missing'" in result.message
    assert "site-packages" not in result.message and "exercises/grader" not in result.message


def test_exiting_the_process_is_reported_not_fatal(tmp_path: Path):
    path = learner(tmp_path, """
        import os, sys

        def build_agent():
            os._exit(3)

        def ask(graph, thread_id, text):
            sys.exit("bye")
    """)
    results = grade_file("task1_memory", path)
    assert results["memory-saver"].status == "failed"
    assert "ended abruptly" in results["memory-saver"].message
    assert all(r.status == "failed" for r in results.values())


def test_an_endless_loop_costs_only_its_checks_with_a_clear_message(tmp_path: Path):
    path = learner(tmp_path, """
        import subprocess, sys
        from exercises.solutions.task1_memory import build_agent

        def ask(graph, thread_id, text):
            # A child process that would outlive a naive timeout, then an endless loop.
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            while True:
                pass
    """)
    started = time.monotonic()
    results = grade_file("task1_memory", path, timeout_scale=0.1)
    assert time.monotonic() - started < 20
    assert results["memory-saver"].status == "passed"
    for key in ("same-thread-remembers", "other-thread-forgets"):
        assert results[key].status == "timed out"
        assert results[key].message.startswith("timed out after 3 s")
    leftovers = os.popen("pgrep -f 'time.sleep\\(600\\)'").read().split()
    assert leftovers == [], "the learner's child process outlived its check"


def test_printing_does_not_disturb_the_grade(tmp_path: Path, capfd):
    path = learner(tmp_path, """
        from exercises.solutions.task1_memory import ask as _ask, build_agent

        def ask(graph, thread_id, text):
            print("debugging output " * 1000)
            return _ask(graph, thread_id, text)
    """)
    results = grade_file("task1_memory", path)
    assert all(r.status == "passed" for r in results.values())
    assert "debugging output" not in capfd.readouterr().out


def test_a_broken_task_never_stops_the_others(tmp_path: Path):
    broken = Task(number=99, slug="broken", title="broken", minutes=1, checks=TASK1.checks)
    paths = {"broken": learner(tmp_path, "raise SystemExit(1)\n"), "task1_memory": SOLUTION}
    results = grade([broken, TASK1], lambda task: paths[task.slug], GradingOptions())
    assert [r.status for r in results[:3]] == ["failed"] * 3
    assert [r.status for r in results[3:]] == ["passed"] * 3


def test_a_missing_file_fails_with_where_it_was_expected():
    results = grade_file("task1_memory", None)
    for result in results.values():
        assert result.status == "failed"
        assert "task1_memory/solution.py" in result.message
