"""Attachments through the desk: storing a message's files, and reading them back.

Who may read an attachment is who may read its thread: the customer who owns it and the
supervisors of its tenant. Anyone else, like an id that does not exist, gets "not found".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.backends.blobs import BlobStore, blob_id_of
from agent.domain.attachments import (
    Attachment,
    AttachmentIndex,
    AttachmentRef,
    AttachmentUpload,
)
from agent.errors import ConfigError, NotFound
from agent.persistence.threads import ThreadRecord
from agent.service.access import DeskAccess

_ATTACHMENT_ID = re.compile(r"a_[0-9a-f]{32}")


class AttachmentDesk(DeskAccess):
    """Customers' photos and PDFs: stored by reference, read under the thread's rules."""

    @property
    def attachment_index(self) -> AttachmentIndex:
        """The attachment index on the app database."""
        return AttachmentIndex(self.persistence.db)

    def _blob_store(self) -> BlobStore:
        blobs = getattr(self.persistence, "blobs", None)
        if blobs is None:
            raise ConfigError("this backend has no blob store, so it cannot keep attachments "
                              "(SUPPORT_BLOB_STORE)")
        return blobs

    def attachment(self, user_id: str, thread_id: str, attachment_id: str) -> Attachment:
        """An attachment's reference and bytes (its thread's owner, or a tenant supervisor)."""
        record = self._readable_thread(self.user(user_id), thread_id)
        if not _ATTACHMENT_ID.fullmatch(attachment_id or ""):
            raise NotFound("attachment not found")
        stored = self.attachment_index.get(record.thread_id, attachment_id)
        if stored is None:
            raise NotFound("attachment not found")
        return Attachment(stored.ref, self._blob_store().get(stored.blob_id))

    def thread_attachments(self, user_id: str, thread_id: str) -> list[AttachmentRef]:
        """The attachments sent in a thread, oldest first (owner or a tenant supervisor)."""
        record = self._readable_thread(self.user(user_id), thread_id)
        return [stored.ref for stored in self.attachment_index.for_thread(record.thread_id)]

    def _store_attachments(self, record: ThreadRecord,
                           uploads: Sequence[AttachmentUpload]) -> list[AttachmentRef]:
        """Keep checked uploads for a thread; return the references its message carries.

        The index rows go first and the bytes after: a sweep lists the stored blobs before it
        reads the index, so it never takes bytes whose row it could not see yet.
        """
        if not uploads:
            return []
        blobs = self._blob_store()
        rows = self.attachment_index.record(record.thread_id, record.tenant, record.user_id,
                                            uploads, [blob_id_of(u.data) for u in uploads])
        try:
            for upload in uploads:
                blobs.put(upload.data)
        except BaseException:
            self.attachment_index.remove(row.attachment_id for row in rows)
            raise
        return [row.ref for row in rows]
