"""Plausible wrong solutions lose exactly the marks of the checks they break, and keep the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.grading import expected_failures, grade_file, wrong_solutions

from exercises.tasks import all_tasks


@pytest.mark.parametrize("path", wrong_solutions(),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_wrong_solution_loses_exactly_the_checks_it_breaks(path: Path,
                                                            request: pytest.FixtureRequest):
    slug = path.parent.name
    postgres = None
    if "postgres" in path.stem:
        postgres = request.getfixturevalue("postgres_url")
    results = grade_file(slug, path, postgres_url=postgres, seed=7,
                         timeout_scale=0.25 if "endless" in path.stem else 1.0)
    failed = {key for key, r in results.items() if r.status in ("failed", "timed out")}
    assert failed == expected_failures(path), {k: r.message for k, r in results.items()}
    for key, result in results.items():
        if key in failed:
            assert result.score == 0 and result.hint, result
        elif result.status == "passed":
            assert result.score == result.max_score


def test_every_task_has_at_least_two_wrong_solutions():
    per_task = {task.slug: 0 for task in all_tasks()}
    for path in wrong_solutions():
        per_task[path.parent.name] += 1
    assert all(count >= 2 for count in per_task.values()), per_task
