"""A long conversation stays bounded: pruning and summarising keep the checkpoint small."""

from __future__ import annotations

SCRIPT = (
    "My name is Alice", "Where is ORD-1002?", "list my orders", "What is your return policy?",
    "Thanks!", "How long does shipping take?", "Where is ORD-1001?", "hello",
    "Keep answers short please", "What's my name?",
)


def test_300_turns_keep_the_latest_checkpoint_near_its_size_at_turn_30(desk):
    """Latest checkpoint at turn 300 within 1.5x of turn 30, and no upward drift in between."""
    thread = desk.create_thread("alice").thread_id
    sizes: dict[int, int] = {}
    for turn in range(1, 301):
        desk.ask("alice", SCRIPT[(turn - 1) % len(SCRIPT)], thread_id=thread)
        sizes[turn] = desk.history("alice", thread, limit=1)[0].size_bytes
    assert sizes[300] <= 1.5 * sizes[30]
    early_peak = max(sizes[t] for t in range(20, 41))
    assert max(sizes[t] for t in range(41, 301)) <= 1.5 * early_peak
    view = desk.view_thread("alice", thread)
    limit = desk.settings.summary_trigger_messages + 4  # trigger plus one tool turn
    assert len(view.messages) <= limit
    assert 0 < len(view.summary.splitlines()) <= 12
    # What was said 290 turns ago still shapes the answer (summary + memory).
    assert desk.ask("alice", "What's my name?", thread_id=thread).reply == "Your name is Alice."
