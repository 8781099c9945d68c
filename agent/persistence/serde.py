"""Checkpoint (de)serialisation restricted to the types this app stores.

LangGraph's default serializer imports and calls any `module.name` a stored msgpack value
names, so whoever can write a checkpoint row could run code in every app process that reads
it. This serializer writes exactly as LangGraph's does, but before building anything it
walks the stored bytes and refuses, with a clear error, any type outside `STORED_TYPES`,
any extension it does not know, and any encoding the app never writes (pickle, json).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ormsgpack
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from agent.errors import SupportError

if TYPE_CHECKING:
    from langgraph.checkpoint.serde.base import SerializerProtocol

    from agent.settings import Settings

# Everything the graph checkpoints: its messages, LangGraph's interrupts, resumes and sends.
# (Summaries, customers and approval decisions are plain strings, numbers, lists and dicts.)
STORED_TYPES: frozenset[tuple[str, str]] = frozenset({
    ("langchain_core.messages.human", "HumanMessage"),
    ("langchain_core.messages.ai", "AIMessage"),
    ("langchain_core.messages.ai", "AIMessageChunk"),
    ("langchain_core.messages.tool", "ToolMessage"),
    ("langchain_core.messages.system", "SystemMessage"),
    ("langchain_core.messages.modifier", "RemoveMessage"),
    ("langgraph.types", "Interrupt"),
    ("langgraph.types", "Command"),
    ("langgraph.types", "Send"),
})

# LangGraph's msgpack extension codes (langgraph.checkpoint.serde.jsonplus).
_CONSTRUCTORS = {0, 1, 2, 4, 5}  # single arg, positional args, keyword args, pydantic v1 / v2
_DELTA_SNAPSHOT = 7  # a wrapper around plain stored data
_PLAIN_ENCODINGS = {"null", "bytes", "bytearray"}


class CheckpointRefused(SupportError):
    """A stored checkpoint holds something this app never writes; it is not loaded."""


@dataclass(frozen=True)
class StoredText:
    """A str channel value a saver must store through this serializer (see postgres_saver)."""

    text: str


class RestrictedSerializer(JsonPlusSerializer):
    """LangGraph's serializer, loading only `STORED_TYPES`; anything else is refused."""

    def __init__(self) -> None:
        super().__init__(allowed_msgpack_modules=tuple(STORED_TYPES))

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize as LangGraph does; a `StoredText` is stored as its plain str."""
        return super().dumps_typed(obj.text if isinstance(obj, StoredText) else obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Check what the stored value would build, then build it (or raise CheckpointRefused)."""
        encoding, blob = data
        if "+" in encoding:  # "<type>+aes": only an EncryptedSerializer outside us unwraps it
            from agent.persistence.encryption import missing_key_error

            raise missing_key_error("a stored checkpoint")
        if encoding == "msgpack":
            check_msgpack(blob)
        elif encoding not in _PLAIN_ENCODINGS:
            raise CheckpointRefused(
                f"refused to load a stored checkpoint encoded as {encoding!r}, which this app "
                "never writes; the database may have been tampered with: restore it from a "
                "backup or delete the thread"
            )
        return super().loads_typed(data)


def check_msgpack(blob: bytes) -> None:
    """Raise CheckpointRefused if `blob` names a type or extension outside `STORED_TYPES`."""
    refused: list[str] = []

    def inspect(code: int, payload: bytes) -> None:
        # Nothing is built here: nested values come back through this same hook.
        if code == _DELTA_SNAPSHOT:
            ormsgpack.unpackb(payload, ext_hook=inspect, option=ormsgpack.OPT_NON_STR_KEYS)
            return None
        if code not in _CONSTRUCTORS:
            refused.append(f"msgpack extension type {code}")
            raise ValueError(refused[-1])
        value = ormsgpack.unpackb(payload, ext_hook=inspect, option=ormsgpack.OPT_NON_STR_KEYS)
        if not (isinstance(value, list) and len(value) >= 3
                and (value[0], value[1]) in STORED_TYPES):
            refused.append(".".join(map(str, value[:2])) if isinstance(value, list)
                           else f"a malformed msgpack extension (type {code})")
            raise ValueError(refused[-1])
        return None

    try:
        ormsgpack.unpackb(blob, ext_hook=inspect, option=ormsgpack.OPT_NON_STR_KEYS)
    except ValueError as exc:  # ormsgpack reports a failing hook as a bare ValueError
        problem = (f"it names {refused[0]}, which this app never stores" if refused
                   else f"it is not valid msgpack ({exc})")
        raise CheckpointRefused(
            f"refused to load a stored checkpoint: {problem}; the database may have been "
            "tampered with or damaged: restore it from a backup or delete the thread"
        ) from None


def checkpoint_serializer(settings: Settings) -> SerializerProtocol:
    """The savers' serializer: restricted, then compressed (if asked), then encrypted (if keyed).

    Compression comes before encryption (ciphertext does not compress). Reading always
    understands compressed values, so turning compression off keeps old rows readable.
    """
    # Imported here: both modules build on this one.
    from agent.persistence.compression import CompressedSerializer
    from agent.persistence.encryption import encrypted_serializer

    serde: SerializerProtocol = CompressedSerializer(RestrictedSerializer(),
                                                     compress=settings.compress_checkpoints)
    if settings.encryption_key is not None:
        serde = encrypted_serializer(serde, settings.encryption_key.get_secret_value().encode())
    return serde
