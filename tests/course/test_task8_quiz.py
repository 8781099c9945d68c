"""Task 8, the quiz: how answers are read, how a broken file is reported, what is explained."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest
from rich.console import Console

from exercises.grader.checks import CheckContext, CheckFailed
from exercises.grader.report import print_report
from exercises.grader.runner import GradingOptions, grade
from exercises.tasks.task8_quiz.checks import (
    QUESTIONS,
    TASK,
    answers_toml,
    print_explanations,
)
from exercises.workspace import solution_file

RIGHT = {question.key: question.answer for question in QUESTIONS}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "answers.toml"
    path.write_text(text)
    return path


def _run(path: Path, key: str) -> str:
    """Run one check in this process (no learner code runs for this task); '' if it passed."""
    check = next(check for check in TASK.checks if check.key == key)
    try:
        check.run(CheckContext(path, path.parent))
    except CheckFailed as exc:
        return str(exc)
    return ""


def _recorded(path: Path | None) -> str:
    console = Console(file=io.StringIO(), record=True, width=100, highlight=False)
    print_explanations(console, path)
    return console.export_text()


def test_questions_are_well_formed():
    assert [q.key for q in QUESTIONS] == [f"q{n}" for n in range(1, len(QUESTIONS) + 1)]
    assert [c.key for c in TASK.checks] == list(RIGHT) and TASK.max_points == len(QUESTIONS)
    for question in QUESTIONS:
        assert 3 <= len(question.options) <= 4 and question.answer in question.options
        assert question.explanation and question.hint


def test_starter_and_solution_come_from_the_question_list():
    assert (TASK.folder / TASK.starter_file).read_text() == answers_toml()
    solution = solution_file(TASK)
    assert solution is not None and solution.read_text() == answers_toml(RIGHT)
    assert tomllib.loads(solution.read_text()) == RIGHT


@pytest.mark.parametrize("written", ["b", "B", " b ", "\tB  "])
def test_case_and_surrounding_spaces_do_not_matter(tmp_path: Path, written: str):
    path = _write(tmp_path, f'q1 = "{written}"\n')
    assert _run(path, "q1") == ""


@pytest.mark.parametrize(("line", "says"), [
    ('q1 = ""', "not answered yet"),
    ('q1 = "   "', "not answered yet"),
    ("other = 1", "not answered yet"),
    ('q1 = "e"', "one of the letters a, b, c or d"),
    ('q1 = "b)"', "one of the letters a, b, c or d"),
    ("q1 = 2", "is a number, not a letter in quotes"),
    ('q1 = ["b"]', "is a list, not a letter in quotes"),
    ('[quiz]\nq1 = "b"', "inside the [quiz] table"),
    ('q1 = "a"', 'you answered "a"'),
])
def test_a_bad_answer_fails_its_own_check_and_says_why(tmp_path: Path, line: str, says: str):
    path = _write(tmp_path, f'expected_failures = ["q1"]\nq2 = "c"\n{line}\n')
    assert says in _run(path, "q1")
    assert _run(path, "q2") == ""  # unknown keys and other answers are left alone


@pytest.mark.parametrize(("text", "where"), [
    ('q1 = "b"\nq2 = c\n', "line 2, column 6"),
    ('q1 = "b\nq2 = "c"\n', "line 1, column 8"),
    ('q1 = "b"\nq1 = "a"\n', "line 2"),
])
def test_malformed_toml_fails_every_check_with_one_line(tmp_path: Path, text: str, where: str):
    path = _write(tmp_path, text)
    results = grade([TASK], lambda task: path, GradingOptions(seed=1))
    assert [r.status for r in results] == ["failed"] * len(QUESTIONS)
    for result in results:
        assert "not valid TOML" in result.message and where in result.message
        assert "\n" not in result.message and "Traceback" not in result.message
        assert result.hint


def test_explanations_mark_right_wrong_and_unanswered(tmp_path: Path):
    path = _write(tmp_path, 'q1 = "b"\nq2 = "a"\nq3 = ""\n')
    shown = _recorded(path)
    assert "q1 · a crash with no checkpointer  ✓ your answer, b, is right" in shown
    assert "✗ you answered a; the answer is c" in shown
    assert "q3 · two customers on one thread id  · not answered yet" in shown
    flat = " ".join(shown.split())
    for question in QUESTIONS[:2]:  # answered: the right option and its explanation
        assert question.options[question.answer][:40] in flat
        assert question.explanation[:40] in flat
    for question in QUESTIONS[2:]:  # unanswered: the answer is not given away
        assert question.explanation[:40] not in flat


def test_learner_text_is_never_read_as_markup(tmp_path: Path):
    path = _write(tmp_path, 'q1 = "[/]"\nq2 = "[bold red]x[/bold red]"\nq3 = "[link=x]y"\n')
    shown = _recorded(path)
    assert '"[/]"' in shown and '"[bold red]x[/bold red]"' in shown and '"[link=x]y"' in shown
    console = Console(file=io.StringIO(), record=True, width=200, highlight=False)
    print_report(console, grade([TASK], lambda task: path, GradingOptions(seed=1)))
    assert 'q2 = "[bold red]x[/bold red]" is not one of the options' in console.export_text()


def test_explanations_survive_a_broken_or_missing_file(tmp_path: Path):
    shown = _recorded(_write(tmp_path, "q1 = [unclosed\n"))
    assert "answers.toml is not valid TOML" in shown and "line 1" in shown
    assert shown.count("not answered yet") == len(QUESTIONS)
    shown = _recorded(None)
    assert "No answers.toml found" in shown
    assert shown.count("not answered yet") == len(QUESTIONS)
