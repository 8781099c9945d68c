"""LangGraph's PostgresSaver, reading a checkpoint's blobs by key.

The stock read joins a checkpoint's channel versions to the `checkpoint_blobs` rows of its
thread. PostgreSQL plans that join from its estimate of one thread's blob count, which for a
young, fast-growing table (or any thread longer than the average) is far too low: it reads
the thread's every blob and filters, so each step read more rows the longer the thread got
(95 blob rows per read after 60 turns, growing without bound), unless someone ran ANALYZE.

This reads the same rows one primary-key lookup per channel (`LATERAL ... LIMIT 1`, the way
LangGraph's own `prune` avoids per-thread estimates), whatever the statistics say. Only the
read query differs; writes, schema, migrations and every other behaviour are LangGraph's.
"""

from __future__ import annotations

from langgraph.checkpoint.postgres import PostgresSaver

# The columns and shapes of LangGraph's SELECT_SQL; only the blobs subquery is keyed.
KEYED_SELECT_SQL = """
select
    thread_id,
    checkpoint,
    checkpoint_ns,
    checkpoint_id,
    parent_checkpoint_id,
    metadata,
    (
        select array_agg(array[bl.channel::bytea, bl.type::bytea, bl.blob])
        from jsonb_each_text(checkpoint -> 'channel_versions') as version
        cross join lateral (
            select b.channel, b.type, b.blob
            from checkpoint_blobs b
            where b.thread_id = checkpoints.thread_id
                and b.checkpoint_ns = checkpoints.checkpoint_ns
                and b.channel = version.key
                and b.version = version.value
            limit 1
        ) as bl
    ) as channel_values,
    (
        select array_agg(array[cw.task_id::text::bytea, cw.channel::bytea, cw.type::bytea,
                               cw.blob, convert_to(cw.task_path, 'UTF8'), cw.idx::text::bytea])
        from checkpoint_writes cw
        where cw.thread_id = checkpoints.thread_id
            and cw.checkpoint_ns = checkpoints.checkpoint_ns
            and cw.checkpoint_id = checkpoints.checkpoint_id
    ) as pending_writes
from checkpoints """


class KeyedPostgresSaver(PostgresSaver):
    """PostgresSaver whose reads look a checkpoint's blobs up by key (see the module)."""

    SELECT_SQL = KEYED_SELECT_SQL
