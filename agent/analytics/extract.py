"""One row per checkpoint, read through the saver: who, when, which node, how long, bytes, tokens.

What each column is made from (no second write path; everything is in the checkpoints):

- `node`: the node(s) whose run produced the checkpoint. A node that runs records the channel
  versions it saw (`versions_seen[node]`), so the entries that changed since the parent name
  the writers. `input` for a message arriving (source "input"), `update`/`fork` for a state
  written by hand.
- `duration_s`: this checkpoint's time minus its parent's, when both belong to one run. A step
  that paused for a person (its parent holds an interrupt) is not timed: that time is the
  person's, reported as the approval's waiting time instead.
- `write_bytes`: the serialized size of the channels this checkpoint updated (what the node
  wrote); `state_bytes`: of the whole state. Sizes are through the app's serializer, so they
  are what is stored (compressed or encrypted when so configured).
- `tokens_in`/`tokens_out`: the `usage_metadata` of the AI messages new in this checkpoint
  (LangChain's standard per-message usage record, kept in the checkpoint with the message).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

from agent.analytics.prices import PriceTable
from agent.persistence.threads import ThreadRecord, ThreadRegistry

INTERRUPT = "__interrupt__"
_PAGE = 200
# The registry's `updated_at` is set when a turn ends, after its checkpoints; a thread last
# active this long before the range starts cannot have a checkpoint inside it.
_ACTIVITY_MARGIN_SECONDS = 3600


@dataclass(frozen=True)
class Extraction:
    """Rows for the checkpoints and the approval decisions found in them."""

    checkpoints: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    last_checkpoint: dict[str, str]  # thread id -> newest checkpoint id read


def tenant_threads(registry: ThreadRegistry, tenant: str, *,
                   active_since: float | None = None) -> Iterator[ThreadRecord]:
    """Every registered thread of a tenant (active since a time, when given)."""
    offset = 0
    while True:
        page = registry.list_for_tenant(tenant, limit=_PAGE, offset=offset)
        for record in page:
            if active_since is None or record.updated_at >= active_since - _ACTIVITY_MARGIN_SECONDS:
                yield record
        if len(page) < _PAGE:
            return
        offset += _PAGE


def extract(checkpointer: BaseCheckpointSaver, threads: Iterable[ThreadRecord], *,
            prices: PriceTable, default_model: str, since: float | None = None,
            until: float | None = None, after: dict[str, str] | None = None,
            with_text: bool = False) -> Extraction:
    """Rows for the threads' checkpoints in [since, until) and newer than `after[thread]`."""
    rows: list[dict[str, Any]] = []
    approvals: list[dict[str, Any]] = []
    newest: dict[str, str] = {}
    for record in threads:
        tuples = _main_branch_tuples(checkpointer, record.thread_id)
        if not tuples:
            continue
        newest[record.thread_id] = max(tuples)
        floor = (after or {}).get(record.thread_id, "")
        for checkpoint_id in sorted(tuples):
            if checkpoint_id <= floor:
                continue
            found = tuples[checkpoint_id]
            parent = tuples.get(_parent_id(found) or "")
            row = checkpoint_row(record, found, parent, checkpointer, prices, default_model,
                                 with_text)
            epoch = row["ts"].timestamp()
            if (since is not None and epoch < since) or (until is not None and epoch >= until):
                continue
            rows.append(row)
            approvals += approval_rows(record, found, parent, row)
    return Extraction(rows, approvals, newest)


def checkpoint_row(record: ThreadRecord, found: CheckpointTuple, parent: CheckpointTuple | None,
                   checkpointer: BaseCheckpointSaver, prices: PriceTable, default_model: str,
                   with_text: bool = False) -> dict[str, Any]:
    """The row of one checkpoint (its parent names the writer and times it)."""
    checkpoint, metadata = found.checkpoint, found.metadata or {}
    source = str(metadata.get("source", "loop"))
    ts = _timestamp(checkpoint["ts"])
    values = checkpoint.get("channel_values") or {}
    sizes = {channel: _size(checkpointer, value) for channel, value in values.items()}
    updated = checkpoint.get("updated_channels")
    updated = list(values) if updated is None else updated
    paused = parent is not None and any(w[1] == INTERRUPT for w in parent.pending_writes or ())
    duration = None
    if parent is not None and source == "loop" and not paused:
        duration = max(0.0, (ts - _timestamp(parent.checkpoint["ts"])).total_seconds())
    new = _new_messages(values, parent)
    tokens_in = tokens_out = 0
    model = ""
    cost = 0.0
    for message in new:
        usage = getattr(message, "usage_metadata", None) if isinstance(message, AIMessage) \
            else None
        if not usage:
            continue
        name = str((message.response_metadata or {}).get("model_name") or default_model)
        message_in, message_out = int(usage.get("input_tokens", 0)), \
            int(usage.get("output_tokens", 0))
        tokens_in, tokens_out, model = tokens_in + message_in, tokens_out + message_out, name
        cost += prices.cost(name, message_in, message_out)
    row = {
        "tenant": record.tenant, "thread_id": record.thread_id, "user_id": record.user_id,
        "checkpoint_id": found.config["configurable"]["checkpoint_id"],
        "parent_id": _parent_id(found), "ts": ts, "step": int(metadata.get("step", 0)),
        "source": source, "node": _writer(source, checkpoint, parent),
        "duration_s": duration, "paused": paused,
        "state_bytes": sum(sizes.values()),
        "write_bytes": sum(sizes.get(channel, 0) for channel in updated),
        "messages": len(values.get("messages") or []), "new_messages": len(new),
        "tokens_in": tokens_in, "tokens_out": tokens_out, "model": model or None,
        "cost_usd": cost,
    }
    if with_text:
        row["text"] = "\n".join(f"{m.type}: {m.text}" for m in new if m.text)
    return row


def approval_rows(record: ThreadRecord, found: CheckpointTuple, parent: CheckpointTuple | None,
                  row: dict[str, Any]) -> list[dict[str, Any]]:
    """The decisions an approval step recorded, each with how long it waited for a person."""
    if row["node"] != "approval" or parent is None or not row["paused"]:
        return []
    decisions = (found.checkpoint.get("channel_values") or {}).get("decisions") or {}
    requested = _timestamp(parent.checkpoint["ts"]).timestamp()
    rows, previous = [], requested
    # Several calls of one message are asked one after the other: each waits from the last.
    for call_id, decision in sorted(decisions.items(), key=lambda item: item[1].get("at", 0)):
        decided = float(decision.get("at") or row["ts"].timestamp())
        rows.append({"tenant": record.tenant, "thread_id": record.thread_id,
                     "tool_call_id": call_id, "action": str(decision.get("action", "")),
                     "decided_by": str(decision.get("by", "")),
                     "requested_at": previous, "decided_at": decided,
                     "wait_s": max(0.0, decided - previous)})
        previous = decided
    return rows


def _main_branch_tuples(checkpointer: BaseCheckpointSaver,
                        thread_id: str) -> dict[str, CheckpointTuple]:
    """The thread's root-namespace checkpoints by id (ids sort in time order)."""
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    return {t.config["configurable"]["checkpoint_id"]: t for t in checkpointer.list(config)
            if not t.config["configurable"].get("checkpoint_ns")}


def _writer(source: str, checkpoint: dict[str, Any], parent: CheckpointTuple | None) -> str:
    if source == "input":
        return "input"
    if source in ("update", "fork"):
        return source
    if parent is None:
        return "unknown"  # its parent was trimmed by retention
    before = parent.checkpoint.get("versions_seen") or {}
    ran = sorted(node for node, seen in (checkpoint.get("versions_seen") or {}).items()
                 if node != INTERRUPT and before.get(node) != seen)
    return "+".join(ran) or "unknown"


def _new_messages(values: dict[str, Any], parent: CheckpointTuple | None) -> list[BaseMessage]:
    messages = [m for m in values.get("messages") or [] if isinstance(m, BaseMessage)]
    if parent is None:
        return messages
    seen = {m.id for m in (parent.checkpoint.get("channel_values") or {}).get("messages") or []
            if isinstance(m, BaseMessage)}
    return [m for m in messages if m.id not in seen]


def _size(checkpointer: BaseCheckpointSaver, value: Any) -> int:
    try:
        return len(checkpointer.serde.dumps_typed(value)[1])
    except Exception:  # a value the serializer refuses is not this report's problem
        return 0


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _parent_id(found: CheckpointTuple) -> str | None:
    return ((found.parent_config or {}).get("configurable") or {}).get("checkpoint_id")
