"""A thread's checkpoint timeline, read straight from a saver: what the learner's graph did."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

_HIDDEN = ("__input__", "__start__", "__interrupt__")


def checkpoint_tuples(saver: BaseCheckpointSaver, thread_id: str) -> list[CheckpointTuple]:
    """Every checkpoint of a thread (all branches), oldest first."""
    found = list(saver.list({"configurable": {"thread_id": thread_id}}))
    return sorted(found, key=lambda t: t.checkpoint["id"])


def writers(item: CheckpointTuple, parent: CheckpointTuple | None) -> list[str]:
    """The nodes whose run produced this checkpoint (or 'input' for the caller's input)."""
    if item.metadata.get("source") == "input":
        return ["input"]
    if item.metadata.get("source") in ("update", "fork"):
        return [str(item.metadata["source"])]
    seen = item.checkpoint.get("versions_seen", {})
    before = parent.checkpoint.get("versions_seen", {}) if parent else {}
    ran = [node for node, versions in seen.items()
           if node not in _HIDDEN and before.get(node) != versions]
    return ran or (["start"] if seen.get("__start__") != before.get("__start__") else [])


def timeline(saver: BaseCheckpointSaver, thread_id: str) -> list[dict[str, Any]]:
    """One row per checkpoint, oldest first: step, writer node(s), messages, bytes."""
    items = checkpoint_tuples(saver, thread_id)
    by_id = {t.checkpoint["id"]: t for t in items}
    rows = []
    for item in items:
        parent_id = (item.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        values = item.checkpoint.get("channel_values", {})
        rows.append({
            "checkpoint_id": item.checkpoint["id"],
            "parent_id": parent_id,
            "step": item.metadata.get("step"),
            "node": "+".join(writers(item, by_id.get(parent_id))),
            "messages": len(values.get("messages", []) or []),
            "bytes": state_bytes(saver, values),
        })
    return rows


def state_bytes(saver: BaseCheckpointSaver, values: dict[str, Any]) -> int:
    """How big a state is as the saver stores it."""
    return len(saver.serde.dumps_typed(values)[1])
