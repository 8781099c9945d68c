"""Cross-thread memory: the store keeps a customer's profile across threads and restarts."""

from __future__ import annotations

import pytest

from agent.service import SupportDesk


def test_a_name_told_in_one_thread_is_known_in_a_new_one(desk):
    """'My name is Alice' in one thread; a new thread answers Alice; bob's does not."""
    desk.ask("alice", "My name is Alice")
    assert desk.ask("alice", "What's my name?").reply == "Your name is Alice."
    assert desk.ask("bob", "What's my name?").reply == "You haven't told me your name yet."
    assert desk.remembered_profile("alice") == {"name": "Alice"}
    assert desk.remembered_profile("bob") == {}


def test_preferences_shape_later_answers(desk):
    """'Keep your answers short' makes replies in other threads one sentence long."""
    long_reply = desk.ask("alice", "What is your return policy?").reply
    desk.ask("alice", "Please keep your answers short")
    short_reply = desk.ask("alice", "What is your return policy?").reply
    assert desk.remembered_profile("alice")["preferences"] == ["short answers"]
    assert len(short_reply) < len(long_reply) / 2
    assert short_reply.count(". ") == 0


def test_a_newer_name_replaces_the_old_one(desk):
    """The profile keeps the latest name the customer gave."""
    desk.ask("alice", "My name is Alice")
    desk.ask("alice", "Actually, call me Ally")
    assert desk.ask("alice", "What's my name?").reply == "Your name is Ally."


@pytest.mark.parametrize("saver", [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
])
def test_memory_and_threads_survive_a_restart(make_settings, saver):
    """Close everything, open again: the thread continues and a new thread knows the name."""
    settings = make_settings(saver)
    with SupportDesk.open(settings) as desk:
        thread = desk.ask("alice", "My name is Alice").thread_id
    with SupportDesk.open(settings) as desk:
        assert desk.ask("alice", "What's my name?", thread_id=thread).reply == \
            "Your name is Alice."
        assert desk.ask("alice", "What's my name?").reply == "Your name is Alice."
        assert desk.list_threads("alice").total == 2


def test_the_memory_saver_forgets_everything_on_restart(make_settings):
    """The in-memory saver is for development: a restart loses threads and profiles."""
    settings = make_settings("memory")
    with SupportDesk.open(settings) as desk:
        desk.ask("alice", "My name is Alice")
    with SupportDesk.open(settings) as desk:
        assert desk.list_threads("alice").total == 0
        assert desk.ask("alice", "What's my name?").reply == "You haven't told me your name yet."
