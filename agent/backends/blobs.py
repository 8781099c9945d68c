"""Blob stores: where attachment bytes live, apart from the checkpoints that name them.

A blob's id is the SHA-256 of its bytes (content addressed): putting the same bytes twice
stores them once, and an id that is not 64 hex digits is never looked up (no path tricks).
Every kind keeps when each blob was last put, so a sweep can spare blobs written moments ago
whose attachment row is not visible yet (`list_ids(written_before=...)`).

Kinds: `folder` (files under one folder, written atomically), `postgres` (the `support_blobs`
table), `memory` (this process), `s3` (agent/backends/blobs_s3.py). `open_blob_store` picks
one from the settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from agent.core.db import Database
from agent.errors import ConfigError, NotFound, Unavailable
from agent.settings import Settings

_BLOB_ID = re.compile(r"[0-9a-f]{64}")


def blob_id_of(data: bytes) -> str:
    """The id a blob of these bytes gets: its SHA-256, in hex."""
    return hashlib.sha256(data).hexdigest()


def is_blob_id(text: str) -> bool:
    """True if `text` has the shape of a blob id (64 lowercase hex digits)."""
    return bool(_BLOB_ID.fullmatch(text or ""))


class BlobStore(Protocol):
    """Bytes by id: put returns the id; ids are content hashes, so puts are idempotent."""

    kind: str

    def put(self, data: bytes) -> str:
        """Store `data` (or refresh its write time if stored); return its id."""

    def get(self, blob_id: str) -> bytes:
        """The bytes of a blob; NotFound if there is none with that id."""

    def delete(self, blob_ids: Iterable[str]) -> int:
        """Delete these blobs (missing ones are skipped); return how many were deleted.

        S3 cannot tell a missing key from a deleted one: it counts each well-formed id.
        """

    def list_ids(self, *, written_before: float | None = None) -> Iterator[str]:
        """Every blob id, or only those last put before the epoch time `written_before`."""

    def close(self) -> None:
        """Release what the store holds open."""


def _missing(blob_id: str) -> NotFound:
    return NotFound(f"attachment data {blob_id[:12]}… not found (it may have been removed)")


class FolderBlobStore:
    """One file per blob under `root/ab/<id>`, written to a temp file then renamed into place."""

    kind = "folder"

    def __init__(self, root: Path):
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the attachment folder {self.root} "
                              f"(SUPPORT_BLOB_DIR): {exc.strerror}") from None

    def _path(self, blob_id: str) -> Path:
        return self.root / blob_id[:2] / blob_id

    def put(self, data: bytes) -> str:
        """Store `data` atomically (a reader never sees half a file); return its id."""
        blob_id = blob_id_of(data)
        path = self._path(blob_id)
        try:
            if path.exists():
                os.utime(path)  # spared by a sweep running now, like a fresh write
                return blob_id
            path.parent.mkdir(exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".put-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            raise Unavailable(f"cannot write the attachment to {self.root}: {exc.strerror}; "
                              "check the disk and the folder's permissions") from None
        return blob_id

    def get(self, blob_id: str) -> bytes:
        """The blob's bytes."""
        if not is_blob_id(blob_id):
            raise _missing(str(blob_id))
        try:
            return self._path(blob_id).read_bytes()
        except FileNotFoundError:
            raise _missing(blob_id) from None
        except OSError as exc:
            raise Unavailable(f"cannot read an attachment from {self.root}: "
                              f"{exc.strerror}") from None

    def delete(self, blob_ids: Iterable[str]) -> int:
        """Delete the blobs' files."""
        deleted = 0
        for blob_id in blob_ids:
            if not is_blob_id(blob_id):
                continue
            with contextlib.suppress(FileNotFoundError):
                self._path(blob_id).unlink()
                deleted += 1
        return deleted

    def list_ids(self, *, written_before: float | None = None) -> Iterator[str]:
        """Ids of the blob files (temp files of unfinished puts are not blobs)."""
        for path in self.root.glob("??/*"):
            if not is_blob_id(path.name):
                continue
            if written_before is not None:
                try:
                    if path.stat().st_mtime >= written_before:
                        continue
                except FileNotFoundError:
                    continue
            yield path.name

    def close(self) -> None:
        """Nothing to release."""


class MemoryBlobStore:
    """Blobs in this process (the memory saver's): lost on exit, like its checkpoints."""

    kind = "memory"

    def __init__(self) -> None:
        self._blobs: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes) -> str:
        """Keep `data`; return its id."""
        blob_id = blob_id_of(data)
        with self._lock:
            self._blobs[blob_id] = (bytes(data), time.time())
        return blob_id

    def get(self, blob_id: str) -> bytes:
        """The blob's bytes."""
        with self._lock:
            found = self._blobs.get(blob_id)
        if found is None:
            raise _missing(str(blob_id))
        return found[0]

    def delete(self, blob_ids: Iterable[str]) -> int:
        """Forget the blobs."""
        with self._lock:
            return sum(self._blobs.pop(blob_id, None) is not None for blob_id in blob_ids)

    def list_ids(self, *, written_before: float | None = None) -> Iterator[str]:
        """The blob ids held (a copy: safe to delete while iterating)."""
        with self._lock:
            items = list(self._blobs.items())
        return iter([blob_id for blob_id, (_, written) in items
                     if written_before is None or written < written_before])

    def close(self) -> None:
        """Forget everything."""
        with self._lock:
            self._blobs.clear()


class TableBlobStore:
    """Blobs as rows of `support_blobs` (bytea) in the app's PostgreSQL database."""

    kind = "postgres"

    def __init__(self, db: Database):
        self.db = db

    def put(self, data: bytes) -> str:
        """Insert the blob (or refresh its write time); return its id."""
        blob_id = blob_id_of(data)
        self.db.execute(
            "INSERT INTO support_blobs (blob_id, data, size, written_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (blob_id) DO UPDATE SET written_at = excluded.written_at",
            (blob_id, bytes(data), len(data), time.time()))
        return blob_id

    def get(self, blob_id: str) -> bytes:
        """The blob's bytes."""
        if not is_blob_id(blob_id):
            raise _missing(str(blob_id))
        row = self.db.fetch_one("SELECT data FROM support_blobs WHERE blob_id = ?", (blob_id,))
        if row is None:
            raise _missing(blob_id)
        return bytes(row["data"])

    def delete(self, blob_ids: Iterable[str]) -> int:
        """Delete the rows, a batch per statement."""
        ids = [blob_id for blob_id in blob_ids if is_blob_id(blob_id)]
        deleted = 0
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            marks = ", ".join("?" * len(batch))
            deleted += self.db.execute(
                f"DELETE FROM support_blobs WHERE blob_id IN ({marks})", batch)
        return deleted

    def list_ids(self, *, written_before: float | None = None) -> Iterator[str]:
        """The blob ids in the table."""
        if written_before is None:
            rows = self.db.fetch_all("SELECT blob_id FROM support_blobs")
        else:
            rows = self.db.fetch_all("SELECT blob_id FROM support_blobs WHERE written_at < ?",
                                     (written_before,))
        return iter([row["blob_id"] for row in rows])

    def close(self) -> None:
        """The database belongs to the backend."""


def open_blob_store(settings: Settings, db: Database) -> BlobStore:
    """The blob store the settings choose for this saver (`SUPPORT_BLOB_STORE`).

    `auto`: a folder beside the SQLite file, the `support_blobs` table on PostgreSQL, this
    process for the memory saver.
    """
    kind = settings.blob_store
    if kind == "auto":
        kind = {"sqlite": "folder", "postgres": "postgres"}.get(settings.saver, "memory")
    if kind == "memory":
        return MemoryBlobStore()
    if kind == "folder":
        if settings.blob_dir is None and settings.saver != "sqlite":
            raise ConfigError("SUPPORT_BLOB_STORE=folder needs SUPPORT_BLOB_DIR with the "
                              f"{settings.saver} saver (only SQLite has a file to put it beside)")
        return FolderBlobStore(_folder_of(settings))
    if kind == "postgres":
        if db.dialect != "postgres":
            raise ConfigError("SUPPORT_BLOB_STORE=postgres needs SUPPORT_SAVER=postgres; use "
                              f"folder or s3 with the {settings.saver} saver")
        return TableBlobStore(db)
    if kind == "s3":
        from agent.backends.blobs_s3 import S3BlobStore

        return S3BlobStore.from_settings(settings)
    raise ConfigError(f"unknown blob store {kind!r}; use auto, folder, postgres or s3")


def _folder_of(settings: Settings) -> Path:
    if settings.blob_dir is not None:
        return Path(settings.blob_dir)
    path = settings.sqlite_path
    return path.with_name(path.name + ".blobs")
