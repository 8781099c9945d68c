"""PostgreSQL checkpoints with a key: text channel values kept out of the clear `checkpoints` row.

PostgresSaver stores `None`, str, int, float and bool channel values inline in the
`checkpoints.checkpoint` JSONB, which the serializer never sees: the state's `summary` (a str
of what the customer said) would stay readable in an encrypted database. With a key set, the
saver class gets `TextInBlobs`, which hands every str channel value to PostgresSaver wrapped
in `StoredText`, so it takes the blob path (serializer, hence encryption) like any list or
dict. The serializer stores the plain str, so reading is LangGraph's own and returns a str.
"""

from __future__ import annotations

from functools import cache

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.postgres import PostgresSaver

from agent.persistence.serde import StoredText
from agent.settings import Settings


class TextInBlobs:
    """Mixin for a PostgresSaver: str channel values are written as (encrypted) blobs."""

    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        """Save the checkpoint with its str channel values moved to the blobs table."""
        texts = {channel: StoredText(value)
                 for channel, value in checkpoint["channel_values"].items()
                 if isinstance(value, str)}
        if texts:
            checkpoint = {**checkpoint,
                          "channel_values": {**checkpoint["channel_values"], **texts}}
            # A text unchanged since an earlier (unencrypted) checkpoint has no blob yet: write
            # its current version too (an existing blob is kept: the insert does nothing).
            versions = checkpoint["channel_versions"]
            new_versions = {**{channel: versions[channel] for channel in texts
                               if channel in versions}, **new_versions}
        return super().put(config, checkpoint, metadata, new_versions)  # type: ignore[misc]


@cache
def _with_text_in_blobs(saver_class: type[PostgresSaver]) -> type[PostgresSaver]:
    return type(f"TextInBlobs{saver_class.__name__}", (TextInBlobs, saver_class), {})


def postgres_saver_class(saver_class: type[PostgresSaver],
                         settings: Settings) -> type[PostgresSaver]:
    """`saver_class`, keeping text out of the inline JSON when SUPPORT_ENCRYPTION_KEY is set."""
    return saver_class if settings.encryption_key is None else _with_text_in_blobs(saver_class)
