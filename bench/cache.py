"""Benchmark: would a Redis hot cache make the UI's per-rerun reads at least 2x faster?

Every Streamlit rerun of the chat page reads the user's thread list (one page of 15) and the
open thread's head view (messages, pending approvals, handoff). On PostgreSQL this measures,
median of `runs`:

    uncached      the façade read on a desk without Redis (as every desk read before)
    cache hit     the same read on a desk with the hot cache (agent/service/hot_cache.py): the
                  access check still reads the user (and, for a view, the registry row), then
                  one or two Redis GETs and an unpickle
    cache fill    a miss: an event invalidates the entry, then the read fills it again

`speedup` is uncached / cache hit; a read is cached only at 2x or more (issue 12): the head
view is; the thread list (about 1 ms uncached since pages count from counters) is measured
through a cache of its own here, to show what caching it would give. `support-agent bench`
runs it when PostgreSQL and Redis are both reachable;
alone: `.venv/bin/python -m bench.cache [--runs 30]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from agent.service import SupportDesk
from bench.measure import median_ms
from bench.pg import bench_database

KEEP_AT_SPEEDUP = 2.0
THREADS = 40
LONG_THREAD_TURNS = 30
QUESTIONS = ("Where is ORD-1002?", "What is your return policy?", "hello")


def _timed_reads(plain: Callable[[], Any], cached: Callable[[], Any],
                 invalidate: Callable[[], None], runs: int) -> dict[str, float]:
    """Uncached, cache hit and cache fill times of one read, in ms."""

    def fill() -> None:
        invalidate()
        cached()

    uncached = median_ms(plain, runs)
    hit = median_ms(cached, runs)
    return {"uncached_ms": uncached, "hit_ms": hit, "fill_ms": median_ms(fill, runs),
            "speedup": uncached / hit if hit else 0.0}


def hot_cache(admin_url: str, redis_url: str, runs: int, *, threads: int = THREADS,
              turns: int = LONG_THREAD_TURNS) -> dict[str, Any]:
    """Measure the two per-rerun reads with and without the Redis cache on a fresh database:
    the same desk code, opened once without Redis and once with it."""
    prefix = f"sa-bench-cache-{secrets.token_hex(4)}:"
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(bench_database(admin_url))
        # Redis set explicitly on both: SUPPORT_REDIS_URL in the environment would give the
        # "plain" desk the cache too.
        plain = stack.enter_context(SupportDesk.open(
            saver="postgres", postgres_url=url, model="offline", seed_demo=True,
            redis_url="", live_redis_url=""))
        cached = stack.enter_context(SupportDesk.open(
            saver="postgres", postgres_url=url, model="offline", redis_url="",
            live_redis_url=redis_url, redis_key_prefix=prefix))
        stack.callback(_drop_keys, redis_url, prefix)
        for number in range(threads - 1):
            plain.ask("alice", f"{QUESTIONS[number % len(QUESTIONS)]} ({number})")
        long_thread = plain.ask("alice", "Where is ORD-1002?").thread_id
        for number in range(turns - 1):
            plain.ask("alice", QUESTIONS[number % len(QUESTIONS)], thread_id=long_thread)
        record = cached.threads.get(long_thread)
        assert record is not None

        def changed() -> None:  # what every event on the thread does to the cache
            cached._announce(record, "reply", None)

        # Thread lists are not cached by the app (they measured under 2x): what caching them
        # would cost and give is measured the way the app cached them before, here alone.
        list_key = cached.cache.key("bench-threads", "alice")
        generation_key = cached.cache.key("bench-threads-generation", "alice")

        def cached_list() -> Any:
            cached.user("alice")  # the access check a cached read still makes
            cached.cache.get(generation_key)
            page = cached.cache.get(list_key)
            if page is None:
                page = plain.list_threads("alice", limit=15)
                cached.cache.put(list_key, page)
            return page

        rows = [
            {"read": "thread list (page of 15)", **_timed_reads(
                lambda: plain.list_threads("alice", limit=15), cached_list,
                lambda: cached.cache.forget(list_key), runs)},
            {"read": f"head view ({turns} turns)", **_timed_reads(
                lambda: plain.view_thread("alice", long_thread),
                lambda: cached.view_thread("alice", long_thread), changed, runs)},
        ]
        # The cache must serve what the database says.
        assert cached.view_thread("alice", long_thread) == plain.view_thread("alice", long_thread)
        assert cached.list_threads("alice", limit=15) == plain.list_threads("alice", limit=15)
    for row in rows:
        row["keep"] = row["speedup"] >= KEEP_AT_SPEEDUP
    return {"threads": threads, "turns": turns, "runs": runs, "rows": rows,
            "keep_at_speedup": KEEP_AT_SPEEDUP,
            "keep": [row["read"] for row in rows if row["keep"]]}


def _drop_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def redis_reachable(url: str) -> bool:
    """True when Redis answers (without it there is no cache to measure)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def markdown(result: dict[str, Any]) -> str:
    """The measurement as a markdown section."""
    lines = [f"## Hot cache (Redis) for the UI's per-rerun reads, PostgreSQL "
             f"({result['threads']} threads, median of {result['runs']})", "",
             "| read | uncached ms | cache hit ms | cache fill ms | speedup |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for row in result["rows"]:
        lines.append(f"| {row['read']} | {row['uncached_ms']:.2f} | {row['hit_ms']:.2f} | "
                     f"{row['fill_ms']:.2f} | {row['speedup']:.1f}x |")
    kept = ", ".join(result["keep"]) or "nothing"
    lines += ["", f"Kept where a hit is at least {result['keep_at_speedup']:.0f}x faster: "
              f"{kept}.", ""]
    return "\n".join(lines)


def main() -> None:
    """Run the measurement alone and print it (markdown, then JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    result = hot_cache(args.admin_url, args.redis_url, args.runs)
    print(markdown(result))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
