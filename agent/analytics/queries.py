"""The Insights questions, asked of DuckDB over Arrow tables (or the Parquet export).

Each function takes a DuckDB connection on which the tables below are registered (`connect`)
and returns plain dicts, one per result row. The same SQL runs over the exported Parquet
files: register `read_parquet('DIR/checkpoints/**/*.parquet', hive_partitioning = true)` as
`checkpoints`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import duckdb
import pyarrow as pa

UTC_TIME = pa.timestamp("us", tz="UTC")

CHECKPOINTS = pa.schema([
    ("tenant", pa.string()), ("thread_id", pa.string()), ("user_id", pa.string()),
    ("checkpoint_id", pa.string()), ("parent_id", pa.string()), ("ts", UTC_TIME),
    ("step", pa.int64()), ("source", pa.string()), ("node", pa.string()),
    ("duration_s", pa.float64()), ("paused", pa.bool_()), ("state_bytes", pa.int64()),
    ("write_bytes", pa.int64()), ("messages", pa.int64()), ("new_messages", pa.int64()),
    ("tokens_in", pa.int64()), ("tokens_out", pa.int64()), ("model", pa.string()),
    ("cost_usd", pa.float64()),
])
TEXT = pa.field("text", pa.string())
APPROVAL_WAITS = pa.schema([
    ("tenant", pa.string()), ("thread_id", pa.string()), ("tool_call_id", pa.string()),
    ("action", pa.string()), ("decided_by", pa.string()), ("requested_at", pa.float64()),
    ("decided_at", pa.float64()), ("wait_s", pa.float64()),
])
DECISIONS = pa.schema([
    ("thread_id", pa.string()), ("actor_id", pa.string()), ("action", pa.string()),
    ("tool", pa.string()), ("created_at", pa.float64()),
])
LEDGER = pa.schema([
    ("tenant", pa.string()), ("customer_id", pa.string()), ("kind", pa.string()),
    ("amount_cents", pa.int64()), ("created_at", pa.float64()),
])
FEEDBACK = pa.schema([
    ("thread_id", pa.string()), ("kind", pa.string()), ("score", pa.int64()),
    ("created_at", pa.float64()),
])


def table(rows: Iterable[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """An Arrow table of these rows (extra keys ignored)."""
    rows = list(rows)
    return pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows],
                                schema=schema)


def connect(**tables: pa.Table) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with each Arrow table registered under its name."""
    con = duckdb.connect(":memory:")
    for name, arrow in tables.items():
        con.register(name, arrow)
    return con


def rows(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[dict[str, Any]]:
    """The result of a query as dicts."""
    result = con.execute(sql, list(params))
    names = [column[0] for column in result.description]
    return [dict(zip(names, values, strict=True)) for values in result.fetchall()]


def node_figures(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per node: runs, p50/p95 seconds (untimed steps aside), state bytes written."""
    return rows(con, """
        SELECT node, count(*) AS runs,
               quantile_cont(duration_s, 0.5) AS p50_s,
               quantile_cont(duration_s, 0.95) AS p95_s,
               coalesce(sum(write_bytes), 0) AS bytes_written
        FROM checkpoints GROUP BY node
        ORDER BY p95_s DESC NULLS LAST, runs DESC, node""")


def thread_figures(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per thread: turns, checkpoints, bytes, tokens and estimated cost, dearest first."""
    return rows(con, """
        SELECT thread_id, any_value(user_id) AS user_id,
               count(*) FILTER (WHERE source = 'input') AS turns,
               count(*) AS checkpoints,
               coalesce(sum(write_bytes), 0) AS bytes_written,
               coalesce(max(state_bytes), 0) AS largest_state_bytes,
               coalesce(sum(tokens_in), 0) AS tokens_in,
               coalesce(sum(tokens_out), 0) AS tokens_out,
               coalesce(sum(cost_usd), 0) AS cost_usd,
               max(ts) AS last_at
        FROM checkpoints GROUP BY thread_id
        ORDER BY sum(cost_usd) DESC, sum(tokens_in) + sum(tokens_out) DESC,
                 sum(write_bytes) DESC, thread_id""")


def totals(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Threads, turns, checkpoints, tokens and cost over the whole range."""
    return rows(con, """
        SELECT count(DISTINCT thread_id) AS threads,
               count(*) FILTER (WHERE source = 'input') AS turns,
               count(*) AS checkpoints,
               coalesce(sum(write_bytes), 0) AS bytes_written,
               coalesce(sum(tokens_in), 0) AS tokens_in,
               coalesce(sum(tokens_out), 0) AS tokens_out,
               coalesce(sum(cost_usd), 0) AS cost_usd
        FROM checkpoints""")[0]


def models_used(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The models whose replies carried token counts."""
    return [r["model"] for r in rows(con, "SELECT DISTINCT model FROM checkpoints"
                                          " WHERE model IS NOT NULL ORDER BY model")]


def decisions_by_action(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """How approvals were decided: approve, edit, reject, respond."""
    return rows(con, "SELECT action, count(*) AS decisions FROM decisions"
                     " GROUP BY action ORDER BY decisions DESC, action")


def approval_waits(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """How long requests waited for a supervisor: count, p50 and p95 seconds."""
    return rows(con, """
        SELECT count(*) AS waits, quantile_cont(wait_s, 0.5) AS p50_s,
               quantile_cont(wait_s, 0.95) AS p95_s FROM approval_waits""")[0]


def by_supervisor(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per supervisor: decisions by kind (audit trail) and their requests' waiting times."""
    return rows(con, """
        WITH made AS (
            SELECT actor_id AS supervisor, count(*) AS decisions,
                   count(*) FILTER (WHERE action = 'approve') AS approved,
                   count(*) FILTER (WHERE action = 'edit') AS edited,
                   count(*) FILTER (WHERE action = 'reject') AS rejected,
                   count(*) FILTER (WHERE action = 'respond') AS replied
            FROM decisions GROUP BY actor_id),
        waited AS (
            SELECT decided_by AS supervisor, quantile_cont(wait_s, 0.5) AS wait_p50_s,
                   quantile_cont(wait_s, 0.95) AS wait_p95_s
            FROM approval_waits GROUP BY decided_by)
        SELECT made.*, waited.wait_p50_s, waited.wait_p95_s
        FROM made LEFT JOIN waited USING (supervisor)
        ORDER BY decisions DESC, supervisor""")


def money(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Refunds, cancellations and address changes per tenant: how many, how much."""
    return rows(con, """
        SELECT tenant, kind, count(*) AS entries, coalesce(sum(amount_cents), 0) AS amount_cents,
               count(DISTINCT customer_id) AS customers
        FROM ledger GROUP BY tenant, kind ORDER BY tenant, kind""")


def satisfaction(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Thumbs on replies and 1-5 star ratings of conversations."""
    return rows(con, """
        SELECT count(*) FILTER (WHERE kind = 'reply' AND score > 0) AS thumbs_up,
               count(*) FILTER (WHERE kind = 'reply' AND score < 0) AS thumbs_down,
               count(*) FILTER (WHERE kind = 'conversation') AS ratings,
               avg(score) FILTER (WHERE kind = 'conversation') AS average_stars
        FROM feedback""")[0]


def star_counts(con: duckdb.DuckDBPyConnection) -> dict[int, int]:
    """How many conversations got each number of stars (1-5, zeros included)."""
    found = {r["stars"]: r["n"] for r in rows(
        con, "SELECT score AS stars, count(*) AS n FROM feedback WHERE kind = 'conversation'"
             " GROUP BY score")}
    return {stars: int(found.get(stars, 0)) for stars in range(1, 6)}


def per_day(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per UTC day: turns, tokens and cost (for the charts)."""
    return rows(con, """
        SELECT CAST(timezone('UTC', ts) AS DATE) AS day,
               count(*) FILTER (WHERE source = 'input') AS turns,
               coalesce(sum(tokens_in + tokens_out), 0) AS tokens,
               coalesce(sum(cost_usd), 0) AS cost_usd
        FROM checkpoints GROUP BY day ORDER BY day""")


def slowest_runs(con: duckdb.DuckDBPyConnection, per_node: int = 5) -> list[dict[str, Any]]:
    """Each node's slowest timed runs (for the drill-down to a thread's history)."""
    return rows(con, """
        SELECT node, thread_id, checkpoint_id, step, duration_s, ts FROM checkpoints
        WHERE duration_s IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY node ORDER BY duration_s DESC, ts) <= ?
        ORDER BY node, duration_s DESC""", per_node)
