"""Every SQL statement of a few ordinary PostgreSQL turns, and what the server counted.

`python -m bench.statements [TURNS]` (default 10): a fresh `sa_bench_*` database beside
SUPPORT_POSTGRES_URL's, the project's default settings (advisory locks, no Redis), 10
warm-up turns of the bench's script, then TURNS more with each statement printed: its kind
(`execute` / `executemany`), its first words, the project line that sent it (LangGraph's own
show as `langgraph`), the server process and whether the connection was in a pipeline. It
ends with statements and transactions per turn (PostgreSQL's `xact_commit + xact_rollback`,
the bench's own taken out). This is how the lean write path was found: read it before
adding a statement to a turn.
"""

from __future__ import annotations

import argparse
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from agent.service import SupportDesk
from bench.pg import ServerStats, bench_database, pool_flusher
from bench.turns import message, project_settings

WARM_UP_TURNS = 10


@contextmanager
def statements_logged(log: list[tuple[str, ...]]) -> Iterator[None]:
    """Append (kind, words, sender, pid, pipeline) for each psycopg statement of the block."""
    originals = {"execute": psycopg.Cursor.execute, "executemany": psycopg.Cursor.executemany}

    def wrap(kind: str) -> Any:
        def logged(cur: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            log.append((kind, " ".join(str(query).split())[:80], _sender(),
                        str(cur.connection.pgconn.backend_pid),
                        "pipeline" if cur.connection.pgconn.pipeline_status else ""))
            return originals[kind](cur, query, *args, **kwargs)
        return logged

    psycopg.Cursor.execute = wrap("execute")  # type: ignore[method-assign]
    psycopg.Cursor.executemany = wrap("executemany")  # type: ignore[method-assign]
    try:
        yield
    finally:
        psycopg.Cursor.execute = originals["execute"]  # type: ignore[method-assign]
        psycopg.Cursor.executemany = originals["executemany"]  # type: ignore[method-assign]


def _sender() -> str:
    """The innermost project line on the stack (or `langgraph` for the saver's own)."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if "/agent/" in frame.filename:
            return f"agent/{frame.filename.rsplit('/agent/', 1)[1]}:{frame.lineno}"
    return "langgraph"


def main() -> None:
    """Print the statements of TURNS ordinary turns and the per-turn counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("turns", nargs="?", type=int, default=10)
    parser.add_argument("--admin-url", default=None,
                        help="a PostgreSQL URL to create the database beside "
                             "(default: SUPPORT_POSTGRES_URL)")
    args = parser.parse_args()
    admin_url = args.admin_url or project_settings("project", "postgres").postgres_url
    log: list[tuple[str, ...]] = []
    with bench_database(admin_url) as url, \
            SupportDesk.open(project_settings("project", "postgres", postgres_url=url)) as desk:
        thread = desk.create_thread("alice").thread_id
        for turn in range(1, WARM_UP_TURNS + 1):
            desk.ask("alice", message(turn), thread_id=thread)
        stats = ServerStats(url)
        flushers = [pool_flusher(desk.persistence.db.pool)]
        if getattr(desk.persistence.locks, "pool", None) is not None:
            flushers.append(pool_flusher(desk.persistence.locks.pool))
        before = stats.read(flushers)
        with statements_logged(log):
            for turn in range(WARM_UP_TURNS + 1, WARM_UP_TURNS + args.turns + 1):
                log.append(("turn", message(turn)))
                desk.ask("alice", message(turn), thread_id=thread)
        window = stats.window(before, stats.read(flushers))
        stats.close()
    for row in log:
        print(" | ".join(row))
    statements = sum(1 for row in log if row[0] != "turn")
    print(f"per turn: {statements / args.turns:.1f} statements, "
          f"{window.transactions / args.turns:.1f} transactions, "
          f"{window.rows_read / args.turns:.1f} rows read")


if __name__ == "__main__":
    main()
