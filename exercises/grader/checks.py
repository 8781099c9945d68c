"""What a check is, and what it may do: run the learner's code in fresh processes and judge it."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from exercises.grader.forking import Forked, ForkOutcome, start_forked
from exercises.grader.learner import LearnerError, describe, load_module

# Names the checks give their customers: random per run, so a hard-coded answer cannot pass.
CUSTOMER_NAMES = ("Amara", "Bastian", "Chiara", "Dmitri", "Esme", "Farid", "Greta", "Hiroshi",
                  "Ingrid", "Jonas", "Keiko", "Lionel", "Mireille", "Nikolai", "Odile",
                  "Priya", "Quentin", "Rosalind", "Soren", "Tamsin", "Ulrich", "Valeria")


class CheckFailed(Exception):
    """The learner's code ran but did the wrong thing; the message says what it did."""

    def __init__(self, message: str, *, timeline: list[dict[str, Any]] | None = None,
                 expected: str | None = None) -> None:
        super().__init__(message)
        self.timeline = timeline
        self.expected = expected


@dataclass(frozen=True)
class Check:
    """One graded behaviour of a task."""

    key: str
    title: str
    points: float
    hint: str  # what to look at when it fails
    run: Callable[[CheckContext], None]
    timeout: float = 30.0
    needs_postgres: bool = False


@dataclass
class CheckContext:
    """What a check is given: the learner's file, a scratch folder, the optional PostgreSQL."""

    learner_path: Path
    workdir: Path
    postgres_url: str | None = None
    rng: random.Random = field(default_factory=random.Random)

    def names(self, count: int) -> list[str]:
        """`count` different customer names, random for this run."""
        return self.rng.sample(CUSTOMER_NAMES, count)

    def start(self, scenario: Callable[..., Any], *args: Any) -> Forked:
        """Run `scenario(learner_module, *args)` in a fresh process; see `result`."""
        return start_forked(_call_scenario, scenario, self.learner_path, self.workdir, args,
                            describe_error=lambda exc: describe(exc, self.learner_path))

    def result(self, forked: Forked, timeout: float | None = None) -> Any:
        """The scenario's return value, or LearnerError with the learner's own traceback."""
        return unwrap(forked.wait(timeout))

    def scenario(self, scenario: Callable[..., Any], *args: Any) -> Any:
        """Run a scenario in a fresh process and return its value."""
        return self.result(self.start(scenario, *args))


def unwrap(outcome: ForkOutcome) -> Any:
    """A forked call's value, or the LearnerError that says how it went wrong."""
    if outcome.status == "ok":
        return outcome.value
    if outcome.status == "timeout":
        raise LearnerError(f"your code did not finish within {outcome.seconds:g} s",
                           timed_out=True)
    if outcome.status == "died":
        raise LearnerError(f"your code's process ended abruptly ({outcome.error})")
    raise LearnerError(outcome.error, not_implemented=outcome.error.startswith(
        "not implemented yet"))


def _call_scenario(scenario: Callable[..., Any], path: Path, workdir: Path, args: tuple) -> Any:
    # Files the learner's code writes to its working directory land in the check's scratch
    # folder, not wherever `grade` was run (a check may already have chosen a folder in it).
    if not Path.cwd().resolve().is_relative_to(workdir.resolve()):
        os.chdir(workdir)
    module: ModuleType = load_module(path)
    return scenario(module, *args)


def require_function(module: ModuleType, name: str) -> Callable[..., Any]:
    """The learner's function `name`, or a LearnerError naming what is missing."""
    function = getattr(module, name, None)
    if not callable(function):
        raise LearnerError(f"your file has no function {name}(); the brief says what it takes "
                           "and returns")
    return function


def excerpt(text: Any, limit: int = 160) -> str:
    """A short quote of something the learner's code produced."""
    value = " ".join(str(text).split())
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")
