"""A page of a big customer's threads reads the page, not the customer's every thread.

Pages are ordered by activity with the thread id as tie-break. On a registry that grew faster
than autovacuum analysed it, the planner estimated a customer's threads at a row or two and
sorted all of them for each page (14-16 ms for 50,000, in the full benchmark). Migration 12's
indexes match the pages' order exactly and a customer's page filters on user_id alone, so the
page is read in index order with the statistics PostgreSQL has on its own. The oracle is
PostgreSQL's EXPLAIN ANALYZE of the registry's real query.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from agent.persistence.threads import ThreadRegistry
from agent.service import SupportDesk
from agent.settings import Settings

pytestmark = pytest.mark.postgres
OWNED = 50_000


class RecordingDatabase:
    """The desk's own database, noting the statements it is given (to EXPLAIN them after)."""

    def __init__(self, db: Any):
        self.db = db
        self.dialect = db.dialect
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def fetch_all(self, sql: str, params: Any = ()) -> list[Any]:
        self.statements.append((sql, tuple(params)))
        return self.db.fetch_all(sql, params)


@pytest.fixture
def loaded(make_settings: Callable[..., Settings]) -> Iterator[tuple[SupportDesk, str]]:
    """A desk whose registry got OWNED threads of alice's (and some of others') in one go."""
    settings = make_settings("postgres")
    with SupportDesk.open(settings) as desk:
        with psycopg.connect(settings.postgres_url, autocommit=True) as conn:
            # Statistics from when the registry was young (autovacuum's last visit), then a
            # rush of threads before its next: the state the full benchmark ran into.
            conn.execute("ANALYZE support_threads")
            # Loaded without the counters' triggers (this test reads pages, not totals), so
            # 100,000 rows take a second, not forty.
            conn.execute("SET session_replication_role = replica")
            conn.execute(
                "INSERT INTO support_threads (thread_id, tenant, user_id, title, status,"
                " created_at, updated_at) SELECT 't_' || md5(i::text), 'acme',"
                " CASE WHEN i %% 2 = 0 THEN 'alice' ELSE 'bob' END, 'bulk', 'active', i, i"
                " FROM generate_series(1, %s) AS i", (2 * OWNED,))
            # Autovacuum's insert-triggered VACUUM tells the planner the table's new size, not
            # yet its columns' spread (that waits for its ANALYZE).
            conn.execute("VACUUM support_threads")
        yield desk, settings.postgres_url


def most_rows_of_any_step(url: str, sql: str, params: tuple[Any, ...]) -> int:
    """The largest row count any node of the query's plan produced, by EXPLAIN ANALYZE."""
    with psycopg.connect(url, autocommit=True) as conn:
        [[plan]] = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) "
                                + sql.replace("?", "%s"), params).fetchall()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    most, nodes = 0, [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        most = max(most, int(node["Actual Rows"]))
        nodes.extend(node.get("Plans", []))
    return most


@pytest.mark.parametrize("page", ["owner", "tenant"])
def test_a_page_reads_its_rows_not_every_thread(loaded: tuple[SupportDesk, str],
                                                page: str) -> None:
    """The first page of 15 among 50,000 of alice's (100,000 of the tenant's), right after they
    were loaded: no step of the plan touches more than about a page of rows. (Deep pages of
    a table that young can still be sorted: the planner, told of a few rows, reads them all
    when the offset is past its estimate; autovacuum's next ANALYZE ends that.)"""
    desk, url = loaded
    recording = RecordingDatabase(desk.threads.db)
    registry = ThreadRegistry(recording, desk.threads.cipher)
    rows = (registry.list_for_user("acme", "alice", limit=15) if page == "owner"
            else registry.list_for_tenant("acme", limit=15))
    assert len(rows) == 15
    [(sql, params)] = recording.statements
    assert most_rows_of_any_step(url, sql, params) <= 30
    assert [r.thread_id for r in desk.list_threads("alice", limit=15).threads] == [
        r.thread_id for r in registry.list_for_user("acme", "alice", limit=15)]
