"""Live updates through Redis pub/sub: two desks on one PostgreSQL database and one Redis prefix.

What one desk does to a thread (a reply, an approval requested or decided, a rename, a close,
a delete) reaches the other desk's subscriber as a small event (no message text) and moves
its versions. With Redis stopped (a throwaway redis-server), turns carry on and the versions
say "poll" (None); when Redis is back the subscriber reconnects by itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from support.redis_server import ThrowawayRedis

from agent.errors import NotFound
from agent.service import SupportDesk, collect
from agent.service.events import LiveUpdates, ThreadEvent

ARRIVAL_SECONDS = 10  # a deadline for something to arrive, not a timing being tested
REFUND = "Please refund ORD-1101, it tore"


def eventually(check: Callable[[], object], what: str, seconds: float = ARRIVAL_SECONDS):
    """Wait until `check()` is truthy (and return it), or fail saying `what` never happened."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds}s")
        time.sleep(0.02)


class Recorder:
    """A plain Redis subscriber on the tenants' channels: what was actually published."""

    def __init__(self, url: str, prefix: str):
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(prefix + "events:*")
        self.pubsub.get_message(timeout=2)
        self.messages: list[tuple[str, dict]] = []

    def drain(self) -> list[tuple[str, dict]]:
        """Everything received so far: (channel, event fields)."""
        while (message := self.pubsub.get_message(timeout=0.05)) is not None:
            if message["type"] == "pmessage":
                self.messages.append((message["channel"].decode(), json.loads(message["data"])))
        return self.messages

    def kinds(self, thread_id: str) -> list[str]:
        """The kinds of event seen for one thread, in order."""
        return [event["kind"] for _, event in self.drain() if event["thread_id"] == thread_id]

    def close(self) -> None:
        """Unsubscribe and disconnect."""
        self.pubsub.close()
        self.client.close()


@pytest.fixture
def two_desks(postgres_url: str, redis_url: str, redis_prefix: str
              ) -> Iterator[tuple[SupportDesk, SupportDesk]]:
    """Two desks (two app instances) on one PostgreSQL database and one Redis prefix."""
    options = dict(saver="postgres", postgres_url=postgres_url, redis_url=redis_url,
                   redis_key_prefix=redis_prefix, model="offline")
    first = SupportDesk.open(**options)
    second = SupportDesk.open(**options)
    try:
        for desk in (first, second):
            assert desk.live.wait_connected(ARRIVAL_SECONDS)
        yield first, second
    finally:
        first.close()
        second.close()
        client = redis.Redis.from_url(redis_url)  # the hot cache's keys sit beside the prefix
        for key in client.scan_iter(match=f"hot-cache:{redis_prefix}*"):
            client.delete(key)
        client.close()


def test_events_reach_the_other_instance(two_desks, redis_url: str, redis_prefix: str) -> None:
    """A customer on one desk, a supervisor on the other: each sees the other's changes."""
    customers, supervisors = two_desks
    recorder = Recorder(redis_url, redis_prefix)
    try:
        inbox = supervisors.live_version("acme")
        assert inbox is not None
        other_tenant = supervisors.live_version("globex")

        request = customers.ask("bob", REFUND)
        assert request.status == "awaiting_approval"
        thread = request.thread_id
        eventually(lambda: supervisors.live_version("acme") != inbox,
                   "the supervisor's inbox learning of the request")
        assert eventually(lambda: recorder.kinds(thread)[-1:] == ["approval_requested"],
                          "the request's event")
        assert recorder.kinds(thread) == ["turn_started", "approval_requested"]
        assert supervisors.live_version("globex") == other_tenant  # another tenant: untouched

        seen = customers.live_version("acme", thread)
        [pending] = supervisors.pending_approvals("sam")
        collect(supervisors.decide_approval("sam", thread, {"action": "approve"},
                                                      interrupt_id=pending.interrupt_id))
        eventually(lambda: customers.live_version("acme", thread) != seen,
                   "the customer's page learning of the decision")
        eventually(lambda: recorder.kinds(thread)[-1:] == ["approval_decided"],
                   "the decision's event")
        channel, event = recorder.messages[-1]
        assert channel == f"{redis_prefix}events:acme"
        assert event == {"tenant": "acme", "thread_id": thread, "kind": "approval_decided",
                         "checkpoint_id": supervisors.view_thread("sam", thread).checkpoint_id}
        # Small and without message text: the other instance reads the text from the database.
        published = json.dumps([event for _, event in recorder.messages])
        assert "ORD-1101" not in published and "tore" not in published

        customers.rename_thread("bob", thread, "Torn boots")
        customers.close_thread("bob", thread)
        customers.delete_thread("bob", thread)
        eventually(lambda: recorder.kinds(thread)[-3:] == ["renamed", "closed", "deleted"],
                   "the rename, close and delete events")
    finally:
        recorder.close()


def test_a_supervisor_message_and_a_handoff_are_announced(two_desks, redis_url: str,
                                                           redis_prefix: str) -> None:
    """Asking for a person and a supervisor writing are events too."""
    customers, supervisors = two_desks
    recorder = Recorder(redis_url, redis_prefix)
    try:
        thread = customers.ask("alice", "I'd like to talk to a person, please.").thread_id
        eventually(lambda: recorder.kinds(thread)[-1:] == ["handoff"], "the handoff's event")
        seen = customers.live_version("acme", thread)
        collect(supervisors.reply_as_staff("sam", thread, "Hello Alice, Sam here."))
        eventually(lambda: customers.live_version("acme", thread) != seen,
                   "the customer's page learning of Sam's message")
        assert recorder.kinds(thread)[-2:] == ["turn_started", "handoff"]
    finally:
        recorder.close()


def test_without_redis_pages_poll_and_nothing_fails(make_settings) -> None:
    """No Redis configured: no version (poll), publishing is a quiet no-op."""
    with SupportDesk.open(make_settings("memory")) as desk:
        assert desk.live_version("acme") is None
        assert desk.live.publish(ThreadEvent("acme", "t_x", "reply")) is False
        assert desk.ask("alice", "Where is ORD-1002?").status == "active"


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    """A redis-server of this test's own, which it may stop and start."""
    with ThrowawayRedis() as server:
        yield server


def test_redis_going_away_falls_back_to_polling_and_comes_back(
        postgres_url: str, throwaway_redis: ThrowawayRedis) -> None:
    """Locks stay in PostgreSQL; live updates on a Redis that stops and starts again."""
    options = dict(saver="postgres", postgres_url=postgres_url, model="offline",
                   live_redis_url=throwaway_redis.url, redis_key_prefix="live-test:")
    with SupportDesk.open(**options) as customers, SupportDesk.open(**options) as supervisors:
        assert supervisors.live.wait_connected(ARRIVAL_SECONDS)
        assert customers.live.wait_connected(ARRIVAL_SECONDS)
        before = supervisors.live_version("acme")
        assert before is not None

        throwaway_redis.stop()
        eventually(lambda: supervisors.live_version("acme") is None,
                   "the subscriber noticing Redis is gone")
        # The app carries on without it: turns run, nothing raises, pages poll meanwhile.
        request = customers.ask("bob", REFUND)
        assert request.status == "awaiting_approval"
        assert [p.thread_id for p in supervisors.pending_approvals("sam")] == [request.thread_id]

        throwaway_redis.start()
        back = eventually(lambda: supervisors.live_version("acme"),
                          "the subscriber reconnecting")
        assert back[0] > before[0]  # a new epoch: pages read once more what they missed
        eventually(lambda: customers.live_version("acme") is not None,
                   "the other subscriber reconnecting")
        seen = customers.live_version("acme", request.thread_id)

        def decided() -> bool:
            # The first publish after the outage may find the publisher's connection stale.
            return customers.live_version("acme", request.thread_id) != seen

        collect(supervisors.decide_approval("sam", request.thread_id, {"action": "approve"}))
        eventually(decided, "the decision arriving live after Redis came back")


def test_a_malformed_event_is_ignored(redis_url: str, redis_prefix: str) -> None:
    """Whatever else is published on the channel cannot break the subscriber."""
    live = LiveUpdates(redis_url, redis_prefix)
    try:
        assert live.wait_connected(ARRIVAL_SECONDS)
        client = redis.Redis.from_url(redis_url)
        client.publish(live.channel("acme"), b"not json")
        live.publish(ThreadEvent("acme", "t_1", "reply"))
        eventually(lambda: live.received == 1, "the good event after the bad one")
        assert live.connected
        client.close()
    finally:
        live.close()


def test_the_hot_cache_serves_what_the_database_says(two_desks, redis_url: str,
                                                      redis_prefix: str) -> None:
    """Reads through the cache on one desk follow changes made on the other at once."""
    customers, supervisors = two_desks
    request = customers.ask("bob", REFUND)
    thread = request.thread_id
    first_view = supervisors.view_thread("bob", thread)
    first_list = supervisors.list_threads("bob")
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"hot-cache:{redis_prefix}*"))  # stored
    finally:
        client.close()
    assert supervisors.view_thread("bob", thread) == first_view  # served from the cache

    collect(customers.decide_approval("sam", thread, {"action": "approve"}))
    customers.rename_thread("bob", thread, "Torn boots")
    fresh_view = supervisors.view_thread("bob", thread)
    assert fresh_view != first_view and fresh_view.thread.title == "Torn boots"
    assert fresh_view.messages[-1].text.startswith("Done. Refunded")
    assert supervisors.list_threads("bob") != first_list
    assert supervisors.list_threads("bob").threads[0].title == "Torn boots"

    # Access is checked before the cache: another customer gets nothing from it.
    with pytest.raises(NotFound):
        supervisors.view_thread("alice", thread)
    created = customers.create_thread("bob", "Second question")
    assert created.thread_id in {t.thread_id for t in supervisors.list_threads("bob").threads}
    customers.delete_thread("bob", created.thread_id)
    assert created.thread_id not in {t.thread_id for t in supervisors.list_threads("bob").threads}


def test_the_hot_cache_steps_aside_while_redis_is_away(
        postgres_url: str, throwaway_redis: ThrowawayRedis) -> None:
    """Reads go to the database while Redis is gone; what changed meanwhile is never served
    stale once it is back (the cache is dropped when Redis answers again)."""
    options = dict(saver="postgres", postgres_url=postgres_url, model="offline",
                   live_redis_url=throwaway_redis.url, redis_key_prefix="cache-test:")
    with SupportDesk.open(**options) as first, SupportDesk.open(**options) as second:
        thread = first.ask("alice", "Where is ORD-1002?").thread_id
        before = second.list_threads("alice")
        assert second.view_thread("alice", thread).thread.title == "Where is ORD-1002?"

        throwaway_redis.stop()
        first.rename_thread("alice", thread, "Tracking")  # its invalidation cannot be sent
        assert second.view_thread("alice", thread).thread.title == "Tracking"
        assert second.list_threads("alice").threads[0].title == "Tracking"

        throwaway_redis.start()  # empty again here; a Redis that kept its data is covered by
        # the suspect-cache drop and, for views, by the registry row each view is checked with
        time.sleep(1.1)  # past the pause after the failure (not a timing under test)
        assert second.list_threads("alice").threads[0].title == "Tracking"
        assert second.view_thread("alice", thread).thread.title == "Tracking"
        assert [t.thread_id for t in before.threads] == [
            t.thread_id for t in second.list_threads("alice").threads]


class _Planted:
    """What an attacker with write access to Redis would plant: unpickling it runs code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_cache_entry_not_written_by_the_app_is_never_unpickled(
        two_desks, redis_url: str, redis_prefix: str, tmp_path) -> None:
    """Someone who can write to Redis (not to the database) replaces every cache entry with a
    pickle that would run code: the app ignores them (no signature under its key), reads the
    database instead and serves the truth."""
    import pickle

    customers, supervisors = two_desks
    thread = customers.ask("bob", REFUND).thread_id
    truth_view = supervisors.view_thread("bob", thread)
    truth_list = supervisors.list_threads("bob")
    marker = tmp_path / "planted-ran"
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"hot-cache:{redis_prefix}*"))
        assert keys
        for key in keys:
            ttl = max(client.ttl(key), 30)
            client.set(key, pickle.dumps(_Planted(str(marker))), ex=ttl)
            assert client.get(key)  # planted
    finally:
        client.close()

    assert supervisors.view_thread("bob", thread) == truth_view
    assert supervisors.list_threads("bob") == truth_list
    assert not marker.exists(), "a planted cache entry was unpickled"
