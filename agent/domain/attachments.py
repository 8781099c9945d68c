"""Attachments: photos and PDFs a customer sends with a message, kept by reference.

The bytes go to the backend's blob store; the checkpoint holds only a reference per file
({id, name, content_type, size}, in the HumanMessage's `additional_kwargs`) and a line the
model reads ("[attached photo.jpg (image/jpeg, 2.1 MB)]"). The index (`support_attachments`)
says which thread, tenant and customer each attachment belongs to, and which blob holds it.

What a file is comes from its first bytes, never from the name or the type the sender claims.
"""

from __future__ import annotations

import secrets
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage

from agent.core.db import Database
from agent.errors import InvalidInput

MAX_ATTACHMENTS = 5  # files per message
MAX_NAME_CHARS = 200
ATTACHMENTS_KEY = "attachments"  # where a HumanMessage carries its references
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
ALLOWED_TYPES = (*IMAGE_TYPES, "application/pdf")
_ALLOWED_WORDS = "PNG, JPEG, GIF or WebP images and PDF documents"
# Unicode categories a file name may not hold: controls, format characters, surrogates and
# line or paragraph separators.
_NOT_IN_NAMES = ("Cc", "Cf", "Cs", "Zl", "Zp")


@dataclass(frozen=True)
class AttachmentUpload:
    """A file as a caller hands it over: its name, the type it claims, and its bytes."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class AttachmentRef:
    """What a message keeps of an attachment: enough to show and fetch it, never the bytes."""

    id: str
    name: str
    content_type: str
    size: int

    @property
    def is_image(self) -> bool:
        """True for the image types (shown inline); False for PDF (offered as a download)."""
        return self.content_type in IMAGE_TYPES

    @property
    def in_words(self) -> str:
        """'photo.jpg (image/jpeg, 2.1 MB)'."""
        return f"{self.name} ({self.content_type}, {human_size(self.size)})"

    def as_dict(self) -> dict[str, Any]:
        """The reference as stored in a message."""
        return asdict(self)


@dataclass(frozen=True)
class StoredAttachment:
    """One row of the attachment index."""

    attachment_id: str
    blob_id: str
    thread_id: str
    tenant: str
    user_id: str
    name: str
    content_type: str
    size: int
    created_at: float

    @property
    def ref(self) -> AttachmentRef:
        """The reference a message carries for this attachment."""
        return AttachmentRef(self.attachment_id, self.name, self.content_type, self.size)


@dataclass(frozen=True)
class Attachment:
    """An attachment read back: its reference and its bytes."""

    ref: AttachmentRef
    data: bytes


# --- checking what a customer sends ---------------------------------------------------------

def sniff_content_type(data: bytes) -> str | None:
    """The allowed type these bytes are, by their magic number; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def human_size(size: int) -> str:
    """'512 bytes', '12.3 KB', '2.1 MB' (powers of 1024, as file browsers show them)."""
    if size < 1024:
        return f"{size} byte" + ("" if size == 1 else "s")
    value = float(size)
    for unit in ("KB", "MB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} GB"


def check_file_name(name: str) -> str:
    """The file name, trimmed; InvalidInput if it is empty, too long, holds a control
    character (NUL included) or a path part ('/', '\\', '..')."""
    if not isinstance(name, str):
        raise InvalidInput("an attachment has no file name")
    name = name.strip()
    if not name:
        raise InvalidInput("an attachment has no file name")
    shown = name if len(name) <= 60 else name[:59] + "…"
    for position, char in enumerate(name, start=1):
        # Format characters too: a right-to-left override makes "gpj.exe" read "exe.jpg".
        # The zero-width joiner stays: emoji sequences need it.
        if unicodedata.category(char) in _NOT_IN_NAMES and char != "\u200d":
            raise InvalidInput(f"the file name {shown.encode('unicode_escape').decode()!r} "
                               f"contains a control or formatting character (U+{ord(char):04X}) "
                               f"at character {position}; rename the file")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InvalidInput(f"the file name {shown!r} contains a path ('/', '\\' or '..'); send "
                           "the file under its own name only")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"the file name {shown!r} is {len(name)} characters long; the limit "
                           f"is {MAX_NAME_CHARS}")
    return name


def as_upload(item: AttachmentUpload | Mapping[str, Any] | Sequence[Any]) -> AttachmentUpload:
    """An upload from what a caller passed: an AttachmentUpload, a mapping with name,
    content_type and data, or a (name, content_type, data) triple."""
    if isinstance(item, AttachmentUpload):
        return item
    if isinstance(item, Mapping):
        return AttachmentUpload(item.get("name", ""), item.get("content_type", ""),
                                item.get("data", b""))
    name, content_type, data = item
    return AttachmentUpload(name, content_type, data)


def check_uploads(uploads: Iterable[Any], max_bytes: int) -> list[AttachmentUpload]:
    """The uploads, each with its true content type; InvalidInput naming the first problem.

    Refused: more than MAX_ATTACHMENTS files, a bad name, an empty file, one over `max_bytes`,
    and anything that is not a PNG, JPEG, GIF, WebP image or a PDF by its first bytes.
    """
    items = [as_upload(item) for item in uploads]
    if len(items) > MAX_ATTACHMENTS:
        raise InvalidInput(f"{len(items)} files attached; at most {MAX_ATTACHMENTS} per message")
    checked = []
    for item in items:
        name = check_file_name(item.name)
        data = item.data
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(f"the attachment {name!r} has no file content")
        data = bytes(data)
        if not data:
            raise InvalidInput(f"the attachment {name!r} is empty (0 bytes)")
        if len(data) > max_bytes:
            raise InvalidInput(f"the attachment {name!r} is {human_size(len(data))}; the limit "
                               f"is {human_size(max_bytes)} (SUPPORT_ATTACHMENT_MAX_BYTES)")
        content_type = sniff_content_type(data)
        if content_type is None:
            raise InvalidInput(f"the attachment {name!r} is not a file type we accept (its "
                               f"content is not one of: {_ALLOWED_WORDS}); whatever its name "
                               "or declared type says")
        checked.append(AttachmentUpload(name, content_type, data))
    return checked


def new_attachment_id() -> str:
    """A fresh attachment id: 'a_' and 32 hex digits."""
    return "a_" + secrets.token_hex(16)


# --- the message that carries references -----------------------------------------------------

def attachment_words(refs: Sequence[AttachmentRef]) -> str:
    """The line the model reads about the files: '[attached photo.jpg (image/jpeg, 2.1 MB)]'."""
    return "[attached " + "; ".join(ref.in_words for ref in refs) + "]"


def human_message(text: str, refs: Sequence[AttachmentRef] = ()) -> HumanMessage:
    """A customer's message: the text, and for attachments their references and a line
    naming them (a content block of its own, so the typed text stays apart)."""
    if not refs:
        return HumanMessage(text)
    blocks = [{"type": "text", "text": text}] if text else []
    # One newline: a quote of the message (the approval card's excerpt) stays one paragraph.
    blocks.append({"type": "text", "text": ("\n" if text else "") + attachment_words(refs)})
    return HumanMessage(content=blocks,
                        additional_kwargs={ATTACHMENTS_KEY: [ref.as_dict() for ref in refs]})


def refs_in(message: BaseMessage) -> list[AttachmentRef]:
    """The attachment references a message carries (none for most)."""
    found = (getattr(message, "additional_kwargs", None) or {}).get(ATTACHMENTS_KEY) or []
    refs = []
    for item in found:
        try:
            refs.append(AttachmentRef(str(item["id"]), str(item["name"]),
                                      str(item["content_type"]), int(item["size"])))
        except (KeyError, TypeError, ValueError):
            continue  # not ours (a client of LangGraph Server may send anything)
    return refs


def typed_text(message: BaseMessage) -> str:
    """What the customer typed, without the line naming their attachments."""
    if not refs_in(message) or isinstance(message.content, str):
        return message.text
    words = attachment_words(refs_in(message))
    return message.text.removesuffix(words).rstrip("\n")


# --- the index -------------------------------------------------------------------------------

_COLUMNS = ("attachment_id, blob_id, thread_id, tenant, user_id, name, content_type, size,"
            " created_at")


class AttachmentIndex:
    """Which thread, tenant and customer each attachment belongs to, and its blob."""

    def __init__(self, db: Database):
        self.db = db

    def add(self, rows: Sequence[StoredAttachment]) -> None:
        """Record attachments (all or none)."""
        with self.db.transaction() as session:
            for row in rows:
                session.execute(
                    f"INSERT INTO support_attachments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?,"
                    " ?, ?)",
                    (row.attachment_id, row.blob_id, row.thread_id, row.tenant, row.user_id,
                     row.name, row.content_type, row.size, row.created_at))

    def record(self, thread_id: str, tenant: str, user_id: str,
               uploads: Sequence[AttachmentUpload], blob_ids: Sequence[str]
               ) -> list[StoredAttachment]:
        """Index checked uploads of a thread under fresh ids; return the rows."""
        now = time.time()
        rows = [StoredAttachment(new_attachment_id(), blob_id, thread_id, tenant, user_id,
                                 upload.name, upload.content_type, len(upload.data), now)
                for upload, blob_id in zip(uploads, blob_ids, strict=True)]
        self.add(rows)
        return rows

    def get(self, thread_id: str, attachment_id: str) -> StoredAttachment | None:
        """The attachment with this id in this thread, or None."""
        row = self.db.fetch_one(
            f"SELECT {_COLUMNS} FROM support_attachments WHERE attachment_id = ?"
            " AND thread_id = ?", (attachment_id, thread_id))
        return _stored(row) if row else None

    def for_thread(self, thread_id: str) -> list[StoredAttachment]:
        """A thread's attachments, oldest first."""
        rows = self.db.fetch_all(
            f"SELECT {_COLUMNS} FROM support_attachments WHERE thread_id = ?"
            " ORDER BY created_at, attachment_id", (thread_id,))
        return [_stored(row) for row in rows]

    def thread_ids(self) -> list[str]:
        """Every thread that has attachments."""
        rows = self.db.fetch_all("SELECT DISTINCT thread_id FROM support_attachments")
        return [row["thread_id"] for row in rows]

    def blob_ids(self) -> set[str]:
        """The blobs some attachment still needs."""
        return {row["blob_id"] for row in
                self.db.fetch_all("SELECT DISTINCT blob_id FROM support_attachments")}

    def remove(self, attachment_ids: Iterable[str]) -> int:
        """Drop index rows; return how many went."""
        ids = list(attachment_ids)
        removed = 0
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            marks = ", ".join("?" * len(batch))
            removed += self.db.execute(
                f"DELETE FROM support_attachments WHERE attachment_id IN ({marks})", batch)
        return removed


def _stored(row: Mapping[str, Any]) -> StoredAttachment:
    return StoredAttachment(**{**row, "size": int(row["size"]),
                               "created_at": float(row["created_at"])})
