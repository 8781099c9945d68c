"""How the suite is spread over pytest-xdist workers (scripts/test runs `-n 4 --dist loadgroup`).

Most tests are independent and go one by one to whichever worker is free. Tests that share an
expensive session or module fixture go to one worker together, so it is built once:

- the browser tests share one Streamlit server and one Chromium, and tell one story across
  module fixtures;
- the tests that stop and restart a throwaway PostgreSQL cluster share that cluster;
- the LangGraph Server tests share one `langgraph dev` process;
- a few modules build one large fixture for all their tests.

xdist's own `loadgroup` reads `xdist_group` marks by rewriting node ids, which pytest 9.2 no
longer allows (pytest-xdist issue #1386: the marks are silently ignored), so the groups are
decided here, from the node id, by a scheduler of our own.
"""

from __future__ import annotations

from typing import Any

# Node id prefix -> group. The first match wins; a test matching none is a group of its own.
GROUPS = (
    ("tests/e2e/", "browser"),
    ("tests/server/", "langgraph-server"),
    ("tests/test_postgres_restarts.py", "throwaway-postgres"),
    ("tests/test_good_neighbour.py", "throwaway-postgres"),
    ("tests/ui/test_scale.py", "ui-scale"),
    ("tests/course/test_course_cli.py", "course-cli"),
    ("tests/course/test_autograder.py", "autograder"),
)


def group_of(nodeid: str) -> str:
    """The work unit a test belongs to: its group's name, or its own node id."""
    for prefix, group in GROUPS:
        if nodeid.startswith(prefix):
            return group
    return nodeid


def make_scheduler(config: Any, log: Any) -> Any:
    """xdist's scope scheduler, with work units from `group_of` (largest units go first)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """Runs each group on one worker; every other test is scheduled on its own."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)
