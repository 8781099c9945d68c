"""Task 7's PostgreSQL check: it grades the reference solution on a real database, cleans up
after itself, and without a database it is reported as not graded, counting nowhere."""

from __future__ import annotations

import psycopg

from exercises.grader.runner import GradingOptions, grade
from exercises.tasks.task7_time_travel.checks import TASK
from exercises.workspace import solution_file


def _grade(postgres_url: str | None) -> dict:
    solution = solution_file(TASK)
    assert solution is not None
    results = grade([TASK], lambda task: solution, GradingOptions(postgres_url=postgres_url,
                                                                  seed=3))
    return {result.key: result for result in results}


def _grade_schemas(postgres_url: str) -> list[str]:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        rows = connection.execute("SELECT nspname FROM pg_namespace "
                                  "WHERE nspname LIKE 'grade\\_%'").fetchall()
    return [row[0] for row in rows]


def test_the_reference_solution_passes_on_postgresql(postgres_url: str):
    results = _grade(postgres_url)
    check = results["postgres"]
    assert "PostgreSQL" in check.title
    assert check.status == "passed" and check.score == check.max_score == 3, check.message
    assert all(result.status == "passed" for result in results.values()), results
    assert _grade_schemas(postgres_url) == []  # the throwaway schema was dropped


def test_without_a_database_the_check_is_not_graded():
    results = _grade(None)
    check = results["postgres"]
    assert check.status == "not graded" and not check.graded and check.score == 0
    assert "no PostgreSQL configured" in check.message
    assert "--postgres-url" in check.message and "SUPPORT_POSTGRES_URL" in check.message
    others = [result for key, result in results.items() if key != "postgres"]
    assert all(result.status == "passed" for result in others), others
