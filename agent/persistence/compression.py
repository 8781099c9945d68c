"""Checkpoint compression: zstd for serialized values that are large and shrink well.

A compressed value's type string gets the prefix `z` ("msgpack" -> "zmsgpack"). The marker
holds no "+" on purpose: LangGraph's EncryptedSerializer appends "+aes" and splits on the
first "+", so an encrypted compressed value reads "zmsgpack+aes" and unwraps layer by layer.
Values stored before compression was on keep their plain type and read unchanged; turning
compression off later still reads the compressed ones (only writing depends on the setting).
"""

from __future__ import annotations

import io
import threading
from typing import Any

import zstandard
from langgraph.checkpoint.serde.base import SerializerProtocol

from agent.persistence.serde import CheckpointRefused

COMPRESSED_PREFIX = "z"
# Only values above this size are worth a zstd frame (its header and a table cost bytes).
MIN_COMPRESS_BYTES = 1024
# Compression is kept only when it saves at least this share of the bytes.
MIN_SAVING = 0.10
# The most a stored value may decompress to: a few KB of zeros can claim gigabytes.
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
ZSTD_LEVEL = 3
_READ_CHUNK_BYTES = 1024 * 1024
# The inner serializer's encodings that may carry the prefix.
_COMPRESSIBLE = frozenset({"msgpack", "bytes", "bytearray"})


class CompressedSerializer(SerializerProtocol):
    """Wraps a serializer: writes large values zstd-compressed (if asked), reads both forms."""

    def __init__(self, inner: SerializerProtocol, *, compress: bool = True,
                 max_decompressed_bytes: int = MAX_DECOMPRESSED_BYTES) -> None:
        self.inner = inner
        self.compress = compress
        self.max_decompressed_bytes = max_decompressed_bytes
        # zstandard's (de)compressors are not thread-safe and LangGraph serialises on several
        # worker threads at once (a shared one crashed the process): one per thread.
        self._local = threading.local()

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize with the inner serializer, then compress when it is large and pays off."""
        encoding, blob = self.inner.dumps_typed(obj)
        if not self.compress or encoding not in _COMPRESSIBLE or len(blob) <= MIN_COMPRESS_BYTES:
            return encoding, blob
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:
            compressor = self._local.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        packed = compressor.compress(blob)
        if len(packed) > len(blob) * (1 - MIN_SAVING):
            return encoding, blob
        return COMPRESSED_PREFIX + encoding, packed

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Decompress a `z`-marked value (bounded), then load it with the inner serializer."""
        encoding, blob = data
        inner_encoding = encoding.removeprefix(COMPRESSED_PREFIX)
        if encoding.startswith(COMPRESSED_PREFIX) and inner_encoding in _COMPRESSIBLE:
            # The inner serializer (restricted) checks the decompressed bytes as any other.
            return self.inner.loads_typed((inner_encoding, self._decompress(bytes(blob))))
        return self.inner.loads_typed(data)

    def _decompress(self, blob: bytes) -> bytes:
        """The decompressed bytes, read in a stream so a bomb never gets past the cap."""
        cap = self.max_decompressed_bytes
        try:
            chunks: list[bytes] = []
            size = 0
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)) as reader:
                while size <= cap and (chunk := reader.read(_READ_CHUNK_BYTES)):
                    chunks.append(chunk)
                    size += len(chunk)
        except zstandard.ZstdError as exc:
            raise CheckpointRefused(
                f"refused to load a stored checkpoint: its compressed data is damaged ({exc}); "
                "restore the database from a backup or delete the thread"
            ) from None
        if size > cap:
            raise CheckpointRefused(
                "refused to load a stored checkpoint: it decompresses to more than "
                f"{cap // (1024 * 1024)} MB, which this app never writes (a decompression "
                "bomb or damage); restore the database from a backup or delete the thread"
            )
        return b"".join(chunks)
