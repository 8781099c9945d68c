"""Removing attachments nothing needs any more: blobs no kept checkpoint references.

An attachment is needed while some checkpoint its thread keeps (the head, an older step a
person can go back to, a fork) holds a message referencing it. Checkpoints are read through
the saver's own `list`, so compressed or encrypted ones are read like any other. Retention
(`support-agent gc`) calls `remove_unreferenced_attachments` after it has thinned checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from langgraph.checkpoint.base import BaseCheckpointSaver

from agent.domain.attachments import AttachmentIndex, StoredAttachment, refs_in

if TYPE_CHECKING:
    from agent.backends.base import Backend
    from agent.persistence.threads import ThreadRegistry

# An attachment younger than this is spared even if no checkpoint names it yet: its turn may
# be about to write the checkpoint (files are stored just before the turn starts).
ATTACHMENT_GRACE_SECONDS = 3600.0


def remove_unreferenced_attachments(backend: Backend, registry: ThreadRegistry, *,
                                    grace_seconds: float = ATTACHMENT_GRACE_SECONDS,
                                    now: float | None = None) -> int:
    """Delete attachments no kept checkpoint references; return how many blobs were deleted.

    Removed from the index: every attachment of a thread the registry no longer has (the
    thread was deleted), and attachments older than `grace_seconds` that no checkpoint of
    their thread references (retention dropped those checkpoints, or the thread never got
    one: its turn failed before writing). Then every stored blob older than `grace_seconds`
    that no remaining attachment uses is deleted (identical files share one blob).
    Safe to run while turns run; run it after checkpoints were thinned.
    """
    blobs = backend.blobs
    if blobs is None:
        return 0
    cutoff = (time.time() if now is None else now) - grace_seconds
    # Listed before the index is read: an upload writes its index row before its bytes, so a
    # blob seen here whose row is missing below was truly left without one.
    stored = set(blobs.list_ids(written_before=cutoff))
    index = AttachmentIndex(backend.db)
    unneeded: list[str] = []
    for thread_id in index.thread_ids():
        rows = index.for_thread(thread_id)
        if registry.get(thread_id) is None:
            unneeded += [row.attachment_id for row in rows]
            continue
        unneeded += [row.attachment_id
                     for row in _unreferenced(backend.checkpointer, thread_id, rows, cutoff)]
    index.remove(unneeded)
    return blobs.delete(sorted(stored - index.blob_ids()))


def _unreferenced(checkpointer: BaseCheckpointSaver, thread_id: str,
                  rows: list[StoredAttachment], cutoff: float) -> list[StoredAttachment]:
    """The thread's attachments older than `cutoff` that none of its checkpoints names."""
    old = [row for row in rows if row.created_at < cutoff]
    if not old:
        return []  # spares reading the thread's checkpoints
    referenced = referenced_attachment_ids(checkpointer, thread_id)
    return [row for row in old if row.attachment_id not in referenced]


def referenced_attachment_ids(checkpointer: BaseCheckpointSaver, thread_id: str) -> set[str]:
    """Attachment ids that the thread's kept checkpoints (and their pending writes) name."""
    found: set[str] = set()
    for saved in checkpointer.list({"configurable": {"thread_id": thread_id}}):
        values: list[Any] = [saved.checkpoint.get("channel_values", {})]
        values += [value for _, _, value in saved.pending_writes or ()]
        for message in _messages_in(values):
            found.update(ref.id for ref in refs_in(message))
    return found


def _messages_in(value: Any, depth: int = 0) -> Iterator[BaseMessage]:
    """Every message inside state values (lists, dicts, tuples of them), a few levels down."""
    if isinstance(value, BaseMessage):
        yield value
    elif depth < 6 and isinstance(value, dict):
        for inner in value.values():
            yield from _messages_in(inner, depth + 1)
    elif depth < 6 and isinstance(value, list | tuple):
        for inner in value:
            yield from _messages_in(inner, depth + 1)
